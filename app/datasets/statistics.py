"""Statistics of a dataset version: shares, lengths, lexical diversity, balance warnings."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.cjk import first_word, split_words
from app.models import Item, User
from app.tokenizer import count_tokens_batch

BALANCE_SHARE = 0.1  # warn when a kind or domain holds less than this share
WORD_BINS = (0, 10, 25, 50, 100, 200, 400, 800)


def _bin(value: int, bins: tuple[int, ...]) -> str:
    for low, high in zip(bins, bins[1:], strict=False):
        if value < high:
            return f"{low}–{high - 1}"
    return f"{bins[-1]}+"


def _binned(values: Counter[int]) -> Counter[str]:
    """A histogram over ``WORD_BINS`` of counted values (each distinct value binned once)."""
    hist: Counter[str] = Counter()
    for value, n in values.items():
        hist[_bin(value, WORD_BINS)] += n
    return hist


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
    fields = ("kind", "instruction", "input", "output", "domain", "difficulty", "language")
    rows = [
        (item.status, {f: getattr(item, f) for f in fields}, item.author_id)
        for item in session.scalars(
            select(Item).where(Item.project_id == project_id).execution_options(yield_per=2000)
        )
    ]
    return summarize(session, rows)


def stat_text(snap: dict[str, Any]) -> str:
    """The text whose words and tokens are counted: instruction, input and output."""
    return "\n".join(filter(None, (snap.get("instruction"), snap.get("input"), snap.get("output"))))


def summarize(session: Session, rows, *, token_counts: list[int] | None = None) -> dict[str, Any]:
    """rows: (split or status, content snapshot, author id). ``token_counts``, when the caller
    counted them already, are the tokens of each row's ``stat_text``."""
    emails = dict(session.execute(select(User.id, User.email)).all())
    counts = {
        name: Counter()
        for name in ("kind", "domain", "difficulty", "language", "annotator", "split")
    }
    words: Counter[int] = Counter()
    verbs: Counter = Counter()
    output_tokens: list[list[str]] = []
    texts: list[str] = []
    for split, snap, author_id in rows:
        counts["split"][split] += 1
        counts["kind"][snap.get("kind")] += 1
        counts["domain"][snap.get("domain") or "—"] += 1
        counts["difficulty"][str(snap.get("difficulty") or "—")] += 1
        counts["language"][snap.get("language") or "—"] += 1
        counts["annotator"][emails.get(author_id, "—")] += 1
        text = stat_text(snap)
        words[len(split_words(text))] += 1  # count_words, in one scan
        if token_counts is None:
            texts.append(text)
        verb = first_word(snap.get("instruction", "").casefold())
        if verb:
            verbs[verb] += 1
        output_tokens.append(split_words(snap.get("output", "").casefold()))
    if token_counts is None:
        token_counts = count_tokens_batch(texts)
    word_hist = _binned(words)
    token_hist = _binned(Counter(token_counts or ()))
    total = len(rows)
    warnings = [
        {"field": name, "value": value, "share": round(n / total, 3)}
        for name in ("kind", "domain")
        for value, n in counts[name].items()
        if total and n / total < BALANCE_SHARE
    ]
    order = [_bin(b, WORD_BINS) for b in WORD_BINS]
    return {
        "total": total,
        "counts": {name: dict(c.most_common()) for name, c in counts.items()},
        "words": {b: word_hist.get(b, 0) for b in order},
        "tokens": {b: token_hist.get(b, 0) for b in order} if token_hist else {},
        "distinct_1": _distinct(output_tokens, 1),
        "distinct_2": _distinct(output_tokens, 2),
        "leading_words": verbs.most_common(10),
        "warnings": warnings,
        "balance_share": BALANCE_SHARE,
    }
