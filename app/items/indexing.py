"""Search terms and near-duplicate keys kept beside each item.

Search: lowercased words, plus character bigrams of CJK runs, so that ``机器`` finds
``机器学习`` through an indexed equality lookup on both databases.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from app.core import neardup
from app.core.cjk import CJK_CLASS
from app.models import Item, NearDupKey, SearchTerm

_CJK_RUN = re.compile(f"[{CJK_CLASS}]+")
_WORD = re.compile(r"\w+")
MAX_TERM = 64
# ASCII text (most English items) has no CJK runs, and its \w is [a-z0-9_] once lowercased:
# mapping the other ASCII characters to spaces and splitting finds the same words as the
# regular expression, at twice the speed (an import indexes every row it writes).
_ASCII_GAPS = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")})
_hasher = neardup.MinHasher()


def item_text(item: Item) -> str:
    return neardup.item_text(
        item.instruction,
        item.input,
        item.output,
        item.demos or [],
        system=item.system,
        turns=item.turns or [],
        rejected=item.rejected,
    )


def terms_of(text: str) -> set[str]:
    if text.isascii():
        terms = set(text.lower().translate(_ASCII_GAPS).split())
    else:
        terms = _unicode_terms(text.casefold())
    if max(map(len, terms), default=0) > MAX_TERM:
        terms = {term[:MAX_TERM] for term in terms}
    return terms


def _unicode_terms(text: str) -> set[str]:
    runs = _CJK_RUN.findall(text)
    if not runs:
        return set(_WORD.findall(text))
    terms = set(_WORD.findall(_CJK_RUN.sub(" ", text)))
    for run in runs:
        terms.update(map(str.__add__, run, run[1:]))  # its character bigrams
    return terms


def query_terms(query: str) -> tuple[list[str], list[str]]:
    """(exact terms, substrings to verify): CJK bigrams need a substring check afterwards,
    because two bigrams can both occur without occurring next to each other."""
    query = query.casefold().strip()
    exact: list[str] = []
    verify: list[str] = []
    for run in _CJK_RUN.findall(query):
        if len(run) >= 2:
            exact.extend(run[i : i + 2] for i in range(len(run) - 1))
        if len(run) != 2:  # a two-character run is its own bigram: nothing left to verify
            verify.append(run)
    exact.extend(w[:MAX_TERM] for w in _WORD.findall(_CJK_RUN.sub(" ", query)))
    return list(dict.fromkeys(exact)), verify


def reindex(session: Session, item: Item, before: str | None = None) -> None:
    """Bring the item's search terms and near-duplicate keys up to date; ``before`` is its
    indexed text before this save (None for a new item).

    Only what changed is written: an edit touches a few words, and rewriting all ~60 terms and
    16 keys of an item was most of the cost of a save. The stored terms are those of the text
    before (``search_terms`` has no index by item, which halved an import's cost for it), or
    none for an item without near-duplicate keys: one an import's follow-up pass
    (``app.imports.indexer``) has not reached, which it will then leave out."""
    text = item_text(item)
    terms = terms_of(text)
    old = dict(
        session.execute(
            select(NearDupKey.band, NearDupKey.key).where(NearDupKey.item_id == item.id)
        ).all()
    )
    # An item without keys was never indexed (an import's pass has not reached it): it has no
    # terms either, so all of them are written.
    stored = terms_of(before) if before is not None and old else set()
    if gone := stored - terms:
        session.execute(
            delete(SearchTerm).where(SearchTerm.item_id == item.id, SearchTerm.term.in_(gone))
        )
    if added := terms - stored:
        session.execute(insert(SearchTerm), [{"term": t, "item_id": item.id} for t in added])
    keys = {row["band"]: row for row in near_dup_rows(item.id, item.project_id, text)}
    stale = [band for band, key in old.items() if keys.get(band, {}).get("key") != key]
    if stale:
        session.execute(
            delete(NearDupKey).where(NearDupKey.item_id == item.id, NearDupKey.band.in_(stale))
        )
    if fresh := [row for band, row in keys.items() if band not in old or band in stale]:
        session.execute(insert(NearDupKey), fresh)


def forget(session: Session, items: list[Item]) -> None:
    """Delete the items' search terms and near-duplicate keys (the tables have no foreign keys
    to cascade from, see ``SearchTerm``): call it before deleting items."""
    for item in items:
        terms = terms_of(item_text(item))
        session.execute(
            delete(SearchTerm).where(SearchTerm.item_id == item.id, SearchTerm.term.in_(terms))
        )
    session.execute(delete(NearDupKey).where(NearDupKey.item_id.in_([i.id for i in items])))


def near_dup_rows(item_id: int, project_id: int, text: str) -> list[dict]:
    signature = _hasher.signature(neardup.shingles(text))
    return [
        {"item_id": item_id, "project_id": project_id, "band": band, "key": key}
        for band, key in enumerate(neardup.band_keys(signature))
    ]


def band_keys_for(text: str) -> list[int]:
    return neardup.band_keys(_hasher.signature(neardup.shingles(text)))
