"""Statistics of a dataset version: shares, lengths, lexical diversity, balance warnings, and
for conversations their number, turns per conversation and model tokens per turn.

Preference pairs are counted among the items (kind, domain, language…) and reported apart
(``pairs``, see ``pair_statistics``); the figures of what supervised fine-tuning trains on
(lengths, tokens, diversity, first words, balance) are those of the other items alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.cjk import first_word, split_words
from app.datasets import pair_statistics
from app.datasets.pair_statistics import is_pair
from app.models import Item, User
from app.tokenizer import count_tokens_batch

BALANCE_SHARE = 0.1  # warn when a kind or domain holds less than this share
WORD_BINS = (0, 10, 25, 50, 100, 200, 400, 800)  # words or tokens of an item, or of a turn
# Turns per conversation. A stored conversation alternates from a user turn to an assistant
# turn, so its count is even: the bins step by two and are labelled by the even counts only.
TURN_BINS = (2, 4, 6, 8, 10, 14, 20, 40)
TURN_STEP = 2


@dataclass(frozen=True)
class Bins:
    """Histogram bins: each holds the values from its lower bound up to the next bound; values
    come ``step`` apart, so a bin holding one value is labelled by it alone."""

    bounds: tuple[int, ...]
    step: int = 1

    def label(self, value: int) -> str:
        for low, high in pairwise(self.bounds):
            if value < high:
                last = high - self.step
                return str(low) if last <= low else f"{low}–{last}"
        return f"{self.bounds[-1]}+"

    def histogram(self, values: Counter[int]) -> dict[str, int]:
        """Counted values (value → how many) binned: every bin in order, empty ones included."""
        hist: Counter[str] = Counter()
        for value, n in values.items():  # each distinct value binned once
            hist[self.label(value)] += n
        return {b: hist.get(b, 0) for b in (self.label(low) for low in self.bounds)}


LENGTH = Bins(WORD_BINS)
TURNS = Bins(TURN_BINS, TURN_STEP)


def _distinct(tokens_per_text: list[list[str]], n: int) -> float | None:
    """Distinct-n: the share of n-grams (n = 1 or 2) that are distinct, over all the texts."""
    seen: set = set()
    total = 0
    for t in tokens_per_text:
        grams = t if n == 1 else zip(t, t[1:], strict=False)
        seen.update(grams)
        total += max(len(t) - n + 1, 0)
    return round(len(seen) / total, 4) if total else None


def project_stats(session: Session, project_id: int) -> dict[str, Any]:
    """The same figures over a project's current items (split = status)."""
    fields = (
        *("kind", "instruction", "input", "output", "rejected", "system", "turns"),
        *("domain", "difficulty", "language"),
    )
    rows = [
        (item.status, {f: getattr(item, f) for f in fields}, item.author_id)
        for item in session.scalars(
            select(Item).where(Item.project_id == project_id).execution_options(yield_per=2000)
        )
    ]
    return summarize(session, rows)


def _turns(snap: dict[str, Any]) -> list[dict[str, str]]:
    """A conversation's turns (role, content); none for the other kinds."""
    return (snap.get("turns") or []) if snap.get("kind") == "conversation" else []


def stat_text(snap: dict[str, Any]) -> str:
    """The text whose words and tokens are counted: the system prompt, then instruction, input
    and output, or a conversation's every turn."""
    turns = _turns(snap)
    body = (
        [turn["content"] for turn in turns]
        if turns
        else [snap.get("instruction"), snap.get("input"), snap.get("output")]
    )
    return "\n".join(filter(None, (snap.get("system"), *body)))


@dataclass
class TokenPieces:
    """What the tokenizer encodes, in one batch: an item's text in one piece, except that a
    conversation's system prompt and turns are pieces of their own, so each turn is encoded
    once and the conversation's tokens are their sum."""

    texts: list[str] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # where each item's pieces end
    turns: list[tuple[int, str]] = field(default_factory=list)  # (piece, role) of written turns

    @classmethod
    def of(cls, rows, texts: Sequence[str]) -> TokenPieces:
        pieces = cls()
        for (_split, snap, _author), text in zip(rows, texts, strict=True):
            turns = _turns(snap)
            if not turns:
                pieces.texts.append(text)
            else:
                if snap.get("system"):
                    pieces.texts.append(snap["system"])
                for turn in turns:
                    # A final turn still to be written has no tokens to count yet.
                    if turn["content"].strip():
                        pieces.turns.append((len(pieces.texts), turn["role"]))
                    pieces.texts.append(turn["content"])
            pieces.ends.append(len(pieces.texts))
        return pieces

    def per_item(self, counts: list[int]) -> Counter[int]:
        """Items by their token count (value → items)."""
        if len(self.ends) == len(counts):  # no conversation: a piece is an item
            return Counter(counts)
        return Counter(sum(counts[a:b]) for a, b in pairwise([0, *self.ends]))

    def per_turn(self, counts: list[int]) -> dict[str, Counter[int]]:
        """Written conversation turns by role and token count."""
        by_role: dict[str, Counter[int]] = {"user": Counter(), "assistant": Counter()}
        for piece, role in self.turns:
            by_role[role][counts[piece]] += 1
        return by_role


def summarize(session: Session, rows) -> dict[str, Any]:
    """rows: (split or status, content snapshot, author id)."""
    pairs = [row for row in rows if is_pair(row[1])]
    sft = [row for row in rows if not is_pair(row[1])] if pairs else rows
    texts = [stat_text(snap) for _split, snap, _author in sft]
    pieces = TokenPieces.of(sft, texts)
    pair_texts = pair_statistics.token_texts(pairs)
    # The tokenizer releases the GIL: tokens are counted beside the counting below.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stat-tokens") as pool:
        tokens = pool.submit(count_tokens_batch, [*pieces.texts, *pair_texts])
        figures = _summarize(session, rows, texts)
        all_counts = tokens.result()
    counts = None if all_counts is None else all_counts[: len(pieces.texts)]
    pair_tokens = None if all_counts is None else all_counts[len(pieces.texts) :]
    figures["pairs"] = pair_statistics.pair_figures(pairs, pair_tokens, LENGTH)
    # Without a tokenizer (or an item) nothing has a token count: no bins at all.
    figures["tokens"] = {} if not counts else LENGTH.histogram(pieces.per_item(counts))
    figures["turn_tokens"] = (
        {role: LENGTH.histogram(c) for role, c in pieces.per_turn(counts).items()}
        if counts is not None and figures["conversations"]
        else {}
    )
    return figures


def _summarize(session: Session, rows, texts: list[str]) -> dict[str, Any]:
    """Counts over every row; the other figures over the supervised ones, whose ``texts``
    are given in order."""
    emails = dict(session.execute(select(User.id, User.email)).all())
    counts = {
        name: Counter()
        for name in ("kind", "domain", "difficulty", "language", "annotator", "split")
    }
    balance = {"kind": Counter(), "domain": Counter()}  # of the supervised items
    words: Counter[int] = Counter()
    turn_counts: Counter[int] = Counter()
    verbs: Counter = Counter()
    output_tokens: list[list[str]] = []
    sft_texts = iter(texts)
    for split, snap, author_id in rows:
        counts["split"][split] += 1
        counts["kind"][snap.get("kind")] += 1
        counts["domain"][snap.get("domain") or "—"] += 1
        counts["difficulty"][str(snap.get("difficulty") or "—")] += 1
        counts["language"][snap.get("language") or "—"] += 1
        counts["annotator"][emails.get(author_id, "—")] += 1
        if is_pair(snap):
            continue
        balance["kind"][snap.get("kind")] += 1
        balance["domain"][snap.get("domain") or "—"] += 1
        words[len(split_words(next(sft_texts)))] += 1  # count_words, in one scan
        verb = first_word(snap.get("instruction", "").casefold())
        if verb:
            verbs[verb] += 1
        turns = _turns(snap)
        if snap.get("kind") == "conversation":
            turn_counts[len(turns)] += 1
        # What the model learns to say: the output, or every assistant turn.
        outputs = [t["content"] for t in turns if t["role"] == "assistant"] or [
            snap.get("output", "")
        ]
        output_tokens.extend(split_words(output.casefold()) for output in outputs)
    sft = len(texts)
    warnings = [
        {"field": name, "value": value, "share": round(n / sft, 3)}
        for name in ("kind", "domain")
        for value, n in balance[name].items()
        if sft and n / sft < BALANCE_SHARE
    ]
    return {
        "total": len(rows),
        "sft_total": sft,
        "counts": {name: dict(c.most_common()) for name, c in counts.items()},
        "words": LENGTH.histogram(words),
        "conversations": turn_counts.total(),
        "turns": TURNS.histogram(turn_counts) if turn_counts else {},
        "distinct_1": _distinct(output_tokens, 1),
        "distinct_2": _distinct(output_tokens, 2),
        "leading_words": verbs.most_common(10),
        "warnings": warnings,
        "balance_share": BALANCE_SHARE,
    }
