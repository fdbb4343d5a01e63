"""Self-Instruct bootstrapping (Wang et al. 2022): the prompt, the parsing and the filters.

A bootstrapping round shows a model a few sampled instructions as a numbered task list, lets it
continue the list, then keeps the new instructions that pass two filters:

- the paper's heuristics (:func:`reject_reason`): length, tasks a text model cannot do (images,
  files, drawing…), "Write a program…", a leading punctuation mark, and for English a first
  character outside ASCII;
- novelty (:class:`SimilarityIndex`): a candidate whose ROUGE-L against any instruction already in
  the pool reaches ``ROUGE_L_THRESHOLD`` is dropped, and each kept one joins the pool.

Where this departs from the reference code (``self_instruct/bootstrap_instructions.py``), on
purpose:

- words are counted with the project's CJK rule (each ideograph is a word), not ``str.split``,
  so Chinese instructions get sensible lengths;
- ROUGE-L uses the project's metric (``app.core.metrics``: SQuAD normalisation, each CJK character
  one token) rather than ``rouge_score``'s English-only tokenizer;
- a candidate at exactly 0.7 is dropped (the reference drops only above 0.7);
- candidates are not ``str.capitalize()``-d, which lowercased every later letter ("NASA" →
  "nasa"); "write a program" is matched case-insensitively instead.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from app.core.cjk import count_words
from app.core.constraints.base import N_
from app.core.generation_prompts import generation_language
from app.core.metrics import lcs_length, tokens

ROUGE_L_THRESHOLD = 0.7
MIN_WORDS = 4  # the paper drops instructions of 3 words or fewer
MAX_WORDS = 150

REASON_LABELS = {
    "empty": N_("empty"),
    "too_short": N_("too short (3 words or fewer)"),
    "too_long": N_("too long (more than 150 words)"),
    "unsuitable": N_("asks for images, files, audio or drawing, which a text model cannot handle"),
    "write_a_program": N_("starts with “Write a program”"),
    "starts_with_punctuation": N_("starts with a punctuation mark"),
    "not_english": N_("does not start with an English letter or digit"),
    "similar": N_("too similar to an instruction already in the pool (ROUGE-L 0.7 or more)"),
}


@dataclass(frozen=True)
class _Style:
    """How one language writes the task list and which instructions it refuses."""

    header: str
    marker: str  # formatted with the task number
    gap: str  # between the marker and the instruction: none after a full-width colon
    marker_line: re.Pattern[str]  # a line that opens a task; group 1 is its number
    unsuitable: re.Pattern[str]
    write_a_program: re.Pattern[str]


# Markdown emphasis or a heading mark may wrap a chat model's "Task 9:" (``**Task 9:**``).
_OPEN, _CLOSE = r"^[ \t]*(?:\*\*|#+[ \t]*)?", r"[ \t]*[:：.．](?:\*\*)?[ \t]*"

_STYLES = {
    "en": _Style(
        header="Come up with a series of tasks:",
        marker="Task {}:",
        gap=" ",
        marker_line=re.compile(_OPEN + r"Task[ \t]*(\d+)" + _CLOSE, re.IGNORECASE),
        # The paper's list, whole words: "profile" and "mapping" are fine, "file" and "map" not.
        unsuitable=re.compile(
            r"\b(?:images?|graphs?|pictures?|files?|maps?|draw|plot|go\s+to"
            r"|videos?|audio|diagrams?|flowcharts?)\b",
            re.IGNORECASE,
        ),
        write_a_program=re.compile(r"write\s+a\s+program\b", re.IGNORECASE),
    ),
    "zh": _Style(
        header="想出一系列任务：",
        marker="任务 {}：",
        gap="",
        marker_line=re.compile(_OPEN + r"任务[ \t]*(\d+)" + _CLOSE),
        # Chinese has no spaces between words, so these match anywhere in the text.
        unsuitable=re.compile(r"图片|图像|照片|文件|画|绘制|视频|音频|地图|图表|流程图|示意图"),
        write_a_program=re.compile(r"(?:请)?(?:编写|写)(?:一个|一段)?程序"),
    ),
}


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- the prompt and the model's continuation ----------------------------------------------------


def bootstrap_prompt(seed_instructions: list[str], *, language: str) -> str:
    """The paper's prompt: a header, "Task k: …" per instruction, then "Task n+1:" to continue."""
    style = _STYLES[generation_language(language)]
    lines = [style.header, ""]
    for number, instruction in enumerate(seed_instructions, start=1):
        # One line each, and no trailing colon that would read as the start of an input.
        text = _one_line(instruction).rstrip(":：")
        lines.append(f"{style.marker.format(number)}{style.gap}{text}")
    lines.append(style.marker.format(len(seed_instructions) + 1))
    return "\n".join(lines)


def parse_candidates(text: str, *, first_number: int, language: str) -> list[str]:
    """The instructions in a continuation of :func:`bootstrap_prompt`, one line each.

    ``text`` starts right after "Task {first_number}:". A "Task k:" line opens the next one; a
    repeated or out-of-order k ends the list, and so does text after a blank line that is not a
    "Task k:" line (the model has stopped listing and started talking).
    """
    style = _STYLES[generation_language(language)]
    found: list[list[str]] = [[]]
    expected = first_number + 1
    after_blank = False
    for line in text.splitlines():
        if not line.strip():
            after_blank = any(part.strip() for part in found[-1])
            continue
        opened = style.marker_line.match(line)
        if opened:
            if int(opened.group(1)) != expected:
                break
            expected += 1
            found.append([line[opened.end() :]])
        elif after_blank:
            break
        else:
            found[-1].append(line)
        after_blank = False
    return [joined for parts in found if (joined := _one_line(" ".join(parts)))]


# --- the heuristic filter --------------------------------------------------------------------


def _is_punctuation(char: str) -> bool:
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def reject_reason(instruction: str, *, language: str) -> str | None:
    """The first of the paper's heuristics the instruction fails, as a key of ``REASON_LABELS``."""
    code = generation_language(language)
    style = _STYLES[code]
    text = _one_line(instruction)
    if not text:
        return "empty"
    words = count_words(text)
    if words < MIN_WORDS:
        return "too_short"
    if words > MAX_WORDS:
        return "too_long"
    if style.unsuitable.search(text):
        return "unsuitable"
    if style.write_a_program.match(text):
        return "write_a_program"
    if _is_punctuation(text[0]):
        return "starts_with_punctuation"
    if code == "en" and not text[0].isascii():
        return "not_english"
    return None


# --- novelty: ROUGE-L against the pool ---------------------------------------------------------


def _rouge_l(candidate: list[str], other: list[str]) -> float:
    # app.core.metrics.rouge_l's F-measure on tokens already split. With P = l/|c|, R = l/|o|,
    # 2PR/(P+R) = 2l/(|c|+|o|): one division, so equal ratios give equal floats.
    if not candidate and not other:
        return 1.0
    common = lcs_length(candidate, other)
    return 2 * common / (len(candidate) + len(other)) if common else 0.0


def most_similar(candidate: str, existing: Sequence[str]) -> tuple[float, int | None]:
    """The highest ROUGE-L of ``candidate`` against ``existing`` and the first index reaching it
    (``None`` when nothing shares a token), by comparing with every one."""
    mine = tokens(candidate)
    best, best_index = 0.0, None
    for index, text in enumerate(existing):
        score = _rouge_l(mine, tokens(text))
        if score > best:
            best, best_index = score, index
    return best, best_index


class SimilarityIndex:
    """A pool of instructions that finds a candidate's most similar member without an LCS for each.

    The LCS is at most the shared multiset of tokens, so ROUGE-L F = 2·LCS/(|a|+|b|) is at most
    2·overlap/(|a|+|b|). Overlaps come from an inverted index (only members sharing a token are
    touched); members are then checked in order of falling bound until the bound drops below the
    best score found, so most members never get an LCS. The answer equals :func:`most_similar`'s.
    """

    def __init__(self, instructions: Iterable[str] = ()) -> None:
        self._texts: list[str] = []
        self._tokens: list[list[str]] = []
        self._postings: dict[str, list[tuple[int, int]]] = {}  # token → (member, count)
        self._empty: int | None = None  # the first member without tokens, which "" matches
        for instruction in instructions:
            self.add(instruction)

    def __len__(self) -> int:
        return len(self._texts)

    def __getitem__(self, index: int) -> str:
        return self._texts[index]

    def add(self, instruction: str) -> int:
        """Put an instruction in the pool; returns its index."""
        index = len(self._texts)
        member = tokens(instruction)
        self._texts.append(instruction)
        self._tokens.append(member)
        for token, count in Counter(member).items():
            self._postings.setdefault(token, []).append((index, count))
        if not member and self._empty is None:
            self._empty = index
        return index

    def max_rouge_l(self, candidate: str) -> tuple[float, int | None]:
        """The highest ROUGE-L against the pool and the first index reaching it, or (0.0, None)."""
        mine = tokens(candidate)
        if not mine:
            return (1.0, self._empty) if self._empty is not None else (0.0, None)
        overlap: dict[int, int] = {}
        for token, count in Counter(mine).items():
            for index, member_count in self._postings.get(token, ()):
                overlap[index] = overlap.get(index, 0) + min(count, member_count)
        size = len(mine)
        bounds = sorted(
            (-2 * shared / (size + len(self._tokens[index])), index)
            for index, shared in overlap.items()
        )
        best, best_index = 0.0, None
        for negative_bound, index in bounds:
            if -negative_bound < best:
                break  # no member left can beat the best
            if -negative_bound == best and best_index is not None and index > best_index:
                continue  # at best a tie, and ties go to the lower index, as in most_similar
            score = _rouge_l(mine, self._tokens[index])
            if score > best or (score == best and best_index is not None and index < best_index):
                best, best_index = score, index
        return best, best_index


# --- one round's filtering ---------------------------------------------------------------------


@dataclass(frozen=True)
class KeptInstruction:
    instruction: str
    similarity: float  # the highest ROUGE-L against the pool when it was checked
    most_similar: int | None  # that pool member's index, None when nothing shares a token


@dataclass
class FilterResult:
    kept: list[KeptInstruction] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)  # reason code → candidates


def filter_candidates(
    candidates: Iterable[str], index: SimilarityIndex, *, language: str
) -> FilterResult:
    """Keep the candidates that pass the heuristics and are novel; each kept one joins ``index``."""
    result = FilterResult()
    for candidate in candidates:
        text = _one_line(candidate)
        reason = reject_reason(text, language=language)
        if reason is None:
            score, nearest = index.max_rouge_l(text)
            if score >= ROUGE_L_THRESHOLD:
                reason = "similar"
            else:
                result.kept.append(KeptInstruction(text, score, nearest))
                index.add(text)
                continue
        result.rejected[reason] += 1
    return result
