"""Saving an item writes only the search terms and near-duplicate keys that changed, and leaves
the index equal to one built from scratch."""

from __future__ import annotations

import json
import random
import re

from sqlalchemy import event, func, select

from app.datasets import imports
from app.datasets.imports import ImportOptions
from app.items import indexing
from app.items import service as items
from app.items.repository import ItemFilter, page
from app.items.schemas import ItemDraft
from app.models import Item, NearDupKey, SearchPosting, SearchTerm
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


def _terms_kept(session, item_id) -> set[str]:
    """An item's terms as search sees them: its own rows, plus the posting lists naming it
    while it is listed."""
    own = set(session.scalars(select(SearchTerm.term).where(SearchTerm.item_id == item_id)))
    item = session.get(Item, item_id)
    if item is None or not item.search_listed:
        return own
    lists = session.execute(select(SearchPosting.term, SearchPosting.item_ids))
    return own | {term for term, ids in lists if item_id in ids}


def _found(session, project, q: str) -> set[int]:
    rows, _cursor = page(session, ItemFilter(project_id=project.id, q=q), limit=100)
    return {item.id for item in rows}


def _import_lines(session, tmp_path, project, actor, lines: list[str]):
    path = tmp_path / "colours.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    with path.open("rb") as f:
        job = imports.store_upload(
            session=session,
            project=project,
            filename=path.name,
            stream=f,
            folder=tmp_path / "store",
            actor=actor,
        )
    job = imports.run(session=session, job_id=job.id, actor=actor, options=ImportOptions())
    assert job.state == "done", job.message
    items_ = session.scalars(select(Item).where(Item.project_id == project.id).order_by(Item.id))
    return list(items_)


def test_imported_items_leave_their_posting_lists_when_edited_or_deleted(db_session, tmp_path):
    admin = make_user(db_session, role="admin")
    project = make_project(db_session, admin, name="Posted")
    colours = ("red", "green", "blue")
    lines = [
        json.dumps(
            {
                "instruction": f"Describe the colour {c}.",
                "input": "",
                "output": f"{c.title()} is a colour 颜色。",
            }
        )
        for c in colours
    ]
    red, green, blue = _import_lines(db_session, tmp_path, project, admin, lines)
    # One batch: one list per term, naming every item that has it; no per-item rows.
    (shared,) = db_session.scalars(select(SearchPosting).where(SearchPosting.term == "colour"))
    assert (shared.item_ids, shared.first_id) == ([red.id, green.id, blue.id], red.id)
    assert db_session.scalar(select(func.count()).select_from(SearchTerm)) == 0
    for item in (red, green, blue):
        assert item.search_listed
        assert _terms_kept(db_session, item.id) == indexing.terms_of(indexing.item_text(item))
    assert _found(db_session, project, "colour") == {red.id, green.id, blue.id}
    assert _found(db_session, project, "颜色") == {red.id, green.id, blue.id}
    assert _found(db_session, project, "green colour") == {green.id}

    edited = items.update_item(
        session=db_session,
        item_id=green.id,
        draft=ItemDraft(kind="task", instruction="Describe the shade green.", output="A shade."),
        expected_version=green.version,
        editor=admin,
    )
    # The edit gave the item rows of its own and left the shared lists as they were.
    assert (edited.search_listed, edited.version) == (False, green.version)
    db_session.expire_all()
    assert db_session.get(Item, green.id).search_listed is False
    assert db_session.get(SearchPosting, ("colour", red.id)).item_ids == [red.id, green.id, blue.id]
    assert _terms_kept(db_session, green.id) == indexing.terms_of(indexing.item_text(edited))
    assert _found(db_session, project, "colour") == {red.id, blue.id}
    assert _found(db_session, project, "颜色") == {red.id, blue.id}
    assert _found(db_session, project, "shade") == {green.id}
    assert _found(db_session, project, "describe") == {red.id, green.id, blue.id}
    assert _found(db_session, project, "green") == {green.id}
    # A second edit works on its rows alone.
    again = items.update_item(
        session=db_session,
        item_id=green.id,
        draft=ItemDraft(kind="task", instruction="Describe the colour green.", output="Green."),
        expected_version=edited.version,
        editor=admin,
    )
    assert _terms_kept(db_session, green.id) == indexing.terms_of(indexing.item_text(again))
    assert _found(db_session, project, "colour") == {red.id, green.id, blue.id}
    assert _found(db_session, project, "shade") == set()

    assert items.bulk_delete_drafts(session=db_session, item_ids=[red.id], actor=admin) == 1
    assert _found(db_session, project, "describe") == {green.id, blue.id}
    # A deleted item leaves the lists (SQLite may give its id to a new item), and a list left
    # empty goes: "red" named only the deleted item.
    assert db_session.get(SearchPosting, ("colour", red.id)).item_ids == [green.id, blue.id]
    assert db_session.get(SearchPosting, ("red", red.id)) is None
    assert _terms_kept(db_session, blue.id) == indexing.terms_of(indexing.item_text(blue))


def test_ascii_text_finds_the_words_the_general_rule_finds():
    """ASCII text takes a faster path; it must agree with the regular expression on every
    kind of character: punctuation, digits, underscores, controls and words over 64 letters."""
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(128)] + ["word", "Mixed_Case", "x" * 70, "42", "__"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        expected = {t[: indexing.MAX_TERM] for t in re.findall(r"\w+", text.casefold())}
        assert indexing.terms_of(text) == expected, text
