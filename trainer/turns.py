"""Where each assistant turn lies in a conversation's tokens, found from the chat template's own
rendering (design §6): no token offsets are guessed for any template.

For the assistant message at index ``k`` of the messages, the template renders

- ``messages[:k]`` with ``add_generation_prompt=True``: the text up to where the turn's content
  starts (after its role header and generation prompt), and
- ``messages[:k + 1]``: the text up to the end of the turn.

Both must be string prefixes of the whole conversation's rendering. The turn's characters run
from the end of the first to the end of the second, **less the whitespace the template writes
after the turn** (ChatML's newline after ``<|im_end|>``, a blank line between turns). Those
characters become tokens through the fast tokenizer's offsets: a token belongs to the turn when
it overlaps the turn's characters, so a token merged across a seam (text the template and the
content share) is trained rather than lost, and the seam is counted as a mismatch. A tokenizer
without offsets tokenizes the prefixes instead and splits at the longest common token prefix.

The end of the turn is its **end-of-turn token**: the turn's trailing run of special tokens (the
tokenizer's EOS, or an added special token such as ChatML's ``<|im_end|>``, Llama 3's
``<|eot_id|>`` or Gemma's ``<end_of_turn>``, whether or not the tokenizer calls it EOS) ends at
its first token, and nothing after that token is the turn's. A turn rendered without any such
token (a template that writes only text, or nothing, after the content) ends with its content;
the encoder then inserts one EOS there, so every assistant turn teaches the model to stop.

A template that renders a conversation's prefixes differently from the whole (one that drops
earlier turns' reasoning, say) is counted as a mismatch; its turn is then found by searching for
its content after the previous turn, followed by an end-of-turn token if one comes next.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

log = logging.getLogger(__name__)

Message = dict[str, str]


@dataclass(frozen=True)
class TurnSpan:
    """One assistant turn in token positions ``[start, end)``; ``closed`` when its last token
    is an end-of-turn token the template wrote."""

    start: int
    end: int
    closed: bool
    message: int = -1  # the index of the assistant message in the messages


@dataclass
class RenderedTurns:
    """A conversation's tokens and its assistant turns, in order."""

    ids: list[int]
    spans: list[TurnSpan] = field(default_factory=list)
    mismatches: int = 0  # seams where the template's pieces did not line up with the whole


def end_of_turn_ids(tokenizer) -> set[int]:
    """Tokens that may end an assistant turn: EOS and every special or added special token
    except BOS, UNK and a padding token that is not EOS."""
    ids = set(tokenizer.all_special_ids)
    ids |= {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    ids.discard(tokenizer.bos_token_id)
    ids.discard(tokenizer.unk_token_id)
    if tokenizer.pad_token_id != tokenizer.eos_token_id:
        ids.discard(tokenizer.pad_token_id)
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def render_turns(tokenizer, messages: list[Message]) -> RenderedTurns:
    """Tokenize the conversation and locate each assistant turn in it."""
    full = _template(tokenizer, messages)
    tokens = _Tokens(tokenizer, full)
    enders = end_of_turn_ids(tokenizer)
    rendered = RenderedTurns(ids=tokens.ids)
    cursor = 0  # where the previous turn's text ended
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        chars = _turn_chars(tokenizer, messages, k, full, cursor)
        if chars is None:
            rendered.mismatches += 1
            log.warning("assistant turn %d is not in the template's rendering; not trained", k)
            continue
        begin, finish, exact = chars
        rendered.mismatches += not exact
        (start, start_exact), (end, end_exact) = tokens.span(begin, finish)
        rendered.mismatches += (not start_exact) + (not end_exact)
        if not exact:
            end = _take_following_marker(tokenizer, tokens.ids, end, enders)
        span = _close(tokens.ids, start, end, enders)
        rendered.spans.append(replace(span, message=k))
        cursor = max(cursor, finish)
    return rendered


def _template(tokenizer, messages: list[Message], *, generation: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, add_generation_prompt=generation, tokenize=False)


def _turn_chars(
    tokenizer, messages: list[Message], k: int, full: str, cursor: int
) -> tuple[int, int, bool] | None:
    """The characters ``[begin, finish)`` of assistant message ``k`` in ``full``, and whether
    the template's prefixes located them (else the content was searched for)."""
    content = messages[k]["content"]
    before = _template(tokenizer, messages[:k], generation=True)
    through = _template(tokenizer, messages[: k + 1])
    if full.startswith(before) and full.startswith(through) and cursor <= len(before):
        begin = len(before)
        finish = max(begin, len(through.rstrip()))
        if full.startswith(content, begin):
            # Trailing whitespace of the content itself is the content's, not the template's.
            finish = max(finish, begin + len(content))
        return begin, finish, True
    for wanted in (content, content.strip()):
        at = full.find(wanted, cursor)
        if at >= 0 and wanted:
            return at, at + len(wanted), False
    return None


def _take_following_marker(tokenizer, ids: list[int], end: int, enders: set[int]) -> int:
    """After a searched-for turn: take an end-of-turn token that follows it (across blanks)."""
    j = end
    while j < len(ids) and ids[j] not in enders and not tokenizer.decode([ids[j]]).strip():
        j += 1
    return j + 1 if j < len(ids) and ids[j] in enders else end


def _close(ids: list[int], start: int, end: int, enders: set[int]) -> TurnSpan:
    """The turn ends at the first of its trailing end-of-turn tokens: exactly one is trained."""
    first = end
    while first > start and ids[first - 1] in enders:
        first -= 1
    if first < end:
        return TurnSpan(start, first + 1, closed=True)
    return TurnSpan(start, end, closed=False)


class _Tokens:
    """The whole text's tokens, and the token positions of character positions in it."""

    def __init__(self, tokenizer, text: str) -> None:
        self.tokenizer, self.text = tokenizer, text
        if tokenizer.is_fast:
            encoded = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
            ids, offsets = list(encoded["input_ids"]), list(encoded["offset_mapping"])
            if _double_bos(tokenizer, ids):
                ids, offsets = ids[1:], offsets[1:]
            self.ids, self.offsets = ids, [tuple(o) for o in offsets]
        else:
            self.ids, self.offsets = tokenize(tokenizer, text), None

    def span(self, begin: int, finish: int) -> tuple[tuple[int, bool], tuple[int, bool]]:
        """Token positions ``[start, end)`` covering characters ``[begin, finish)``, each with
        whether it fell on a token boundary."""
        if self.offsets is None:
            return self._by_prefix(begin), self._by_prefix(finish)
        # Tokens with text (not BOS's empty span) that overlap the characters.
        inside = [i for i, (a, b) in enumerate(self.offsets) if b > a and b > begin and a < finish]
        if not inside:
            at = next((i for i, (a, b) in enumerate(self.offsets) if b > a and a >= begin), None)
            at = len(self.ids) if at is None else at
            return (at, True), (at, True)
        first, last = inside[0], inside[-1]
        return (first, self.offsets[first][0] >= begin), (last + 1, self.offsets[last][1] <= finish)

    def _by_prefix(self, chars: int) -> tuple[int, bool]:
        prefix = tokenize(self.tokenizer, self.text[:chars])
        if self.ids[: len(prefix)] == prefix:
            return len(prefix), True
        n = 0
        while n < min(len(prefix), len(self.ids)) and prefix[n] == self.ids[n]:
            n += 1
        return n, False


def tokenize(tokenizer, text: str) -> list[int]:
    """Token ids of ``text`` with the tokenizer's BOS, never two of them."""
    ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
    return ids[1:] if _double_bos(tokenizer, ids) else ids


def _double_bos(tokenizer, ids: list[int]) -> bool:
    # A template that writes BOS itself plus a tokenizer that adds one would give two.
    bos = tokenizer.bos_token_id
    return bos is not None and len(ids) >= 2 and ids[0] == bos and ids[1] == bos
