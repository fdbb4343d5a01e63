"""Statistics of a dataset version: shares, lengths, lexical diversity, balance warnings."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
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


def _histogram(hist: Counter[str], *, empty_bins: bool = True) -> dict[str, int]:
    """Every bin in order, empty ones included; with ``empty_bins`` off, no bins at all when
    nothing was counted (tokens without a tokenizer)."""
    if not hist and not empty_bins:
        return {}
    return {b: hist.get(b, 0) for b in (_bin(low, WORD_BINS) for low in WORD_BINS)}


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


def summarize(session: Session, rows) -> dict[str, Any]:
    """rows: (split or status, content snapshot, author id)."""
    texts = [stat_text(snap) for _split, snap, _author in rows]
    # The tokenizer releases the GIL: tokens are counted beside the counting below.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stat-tokens") as pool:
        tokens = pool.submit(count_tokens_batch, texts)
        figures = _summarize(session, rows, texts)
        counted = Counter(tokens.result() or ())
        figures["tokens"] = _histogram(_binned(counted), empty_bins=False)
    return figures


def _summarize(session: Session, rows, texts: list[str]) -> dict[str, Any]:
    emails = dict(session.execute(select(User.id, User.email)).all())
    counts = {
        name: Counter()
        for name in ("kind", "domain", "difficulty", "language", "annotator", "split")
    }
    words: Counter[int] = Counter()
    verbs: Counter = Counter()
    output_tokens: list[list[str]] = []
    for (split, snap, author_id), text in zip(rows, texts, strict=True):
        counts["split"][split] += 1
        counts["kind"][snap.get("kind")] += 1
        counts["domain"][snap.get("domain") or "—"] += 1
        counts["difficulty"][str(snap.get("difficulty") or "—")] += 1
        counts["language"][snap.get("language") or "—"] += 1
        counts["annotator"][emails.get(author_id, "—")] += 1
        words[len(split_words(text))] += 1  # count_words, in one scan
        verb = first_word(snap.get("instruction", "").casefold())
        if verb:
            verbs[verb] += 1
        output_tokens.append(split_words(snap.get("output", "").casefold()))
    total = len(rows)
    warnings = [
        {"field": name, "value": value, "share": round(n / total, 3)}
        for name in ("kind", "domain")
        for value, n in counts[name].items()
        if total and n / total < BALANCE_SHARE
    ]
    return {
        "total": total,
        "counts": {name: dict(c.most_common()) for name, c in counts.items()},
        "words": _histogram(_binned(words)),
        "distinct_1": _distinct(output_tokens, 1),
        "distinct_2": _distinct(output_tokens, 2),
        "leading_words": verbs.most_common(10),
        "warnings": warnings,
        "balance_share": BALANCE_SHARE,
    }
