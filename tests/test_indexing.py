"""Saving an item writes only the search terms and near-duplicate keys that changed, and leaves
the index equal to one built from scratch."""

from __future__ import annotations

import random
import re

from sqlalchemy import event, select

from app.items import indexing
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import NearDupKey, SearchTerm
from tests.factories import make_user
from tests.review_factories import make_project


def _index(session, item_id):
    terms = set(session.scalars(select(SearchTerm.term).where(SearchTerm.item_id == item_id)))
    keys = dict(
        session.execute(
            select(NearDupKey.band, NearDupKey.key).where(NearDupKey.item_id == item_id)
        ).all()
    )
    return terms, keys


def _expected(item):
    text = indexing.item_text(item)
    rows = indexing.near_dup_rows(item.id, item.project_id, text)
    return indexing.terms_of(text), {r["band"]: r["key"] for r in rows}


def test_an_edit_rewrites_only_what_changed(db_session):
    admin = make_user(db_session, role="admin")
    author = make_user(db_session)
    project = make_project(db_session, admin, name="Index")
    text = "Explain how photosynthesis turns sunlight water and carbon dioxide into sugar"
    item = items.create_item(
        session=db_session,
        project=project,
        draft=ItemDraft(kind="task", instruction=text, output="Plants make food 用阳光。"),
        author=author,
    )
    assert _index(db_session, item.id) == _expected(item)

    written: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("INSERT INTO SEARCH", "DELETE FROM SEARCH")):
            rows = len(parameters) if executemany else 1
            written.extend([statement.split()[0]] * rows)

    engine = db_session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        saved = items.update_item(
            session=db_session,
            item_id=item.id,
            draft=ItemDraft(
                kind="task", instruction=text + " molecules", output="Plants make food 用阳光。"
            ),
            expected_version=item.version,
            editor=author,
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    terms, keys = _index(db_session, saved.id)
    assert (terms, keys) == _expected(saved)
    assert "molecules" in terms
    assert written == ["INSERT"]  # one new word: one row, nothing deleted or rewritten

    shorter = items.update_item(
        session=db_session,
        item_id=item.id,
        draft=ItemDraft(kind="task", instruction="Explain rain", output="Clouds."),
        expected_version=saved.version,
        editor=author,
    )
    assert _index(db_session, shorter.id) == _expected(shorter)
    assert "photosynthesis" not in _index(db_session, shorter.id)[0]


def test_ascii_text_finds_the_words_the_general_rule_finds():
    """ASCII text takes a faster path; it must agree with the regular expression on every
    kind of character: punctuation, digits, underscores, controls and words over 64 letters."""
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(128)] + ["word", "Mixed_Case", "x" * 70, "42", "__"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        expected = {t[: indexing.MAX_TERM] for t in re.findall(r"\w+", text.casefold())}
        assert indexing.terms_of(text) == expected, text
