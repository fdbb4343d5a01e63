"""A conversation on the review, labeling and history pages: the system prompt, then every turn
with its role, hostile text escaped; and the history's word diff turn by turn."""

from __future__ import annotations

import re

from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import ItemRevision
from app.revisions import service as revisions
from tests.editor_helpers import IMG, SCRIPT
from tests.factories import make_user
from tests.helpers import login
from tests.review_factories import make_project

SYSTEM = f"You are careful. {SCRIPT}"
TURNS = [
    {"role": "user", "content": f"First question {IMG}"},
    {"role": "assistant", "content": "First answer & more."},
    {"role": "user", "content": f"Second question {SCRIPT}"},
    {"role": "assistant", "content": f"Second answer {IMG}"},
]


def conversation(session, project, author, turns=TURNS, system=SYSTEM, submit=True):
    draft = ItemDraft(kind="conversation", system=system, turns=turns)
    return items.create_item(
        session=session, project=project, draft=draft, author=author, submit=submit
    )


def shown_messages(html: str) -> list[tuple[str, str]]:
    """(role, escaped text) of each message the content macro shows."""
    block = html.split('id="item-content"', 1)[1].split("\n</div>", 1)[0]
    return re.findall(
        r'class="msg msg-(\w+)" data-role="\w+"[^>]*><span class="role">[^<]*</span>'
        r'<pre class="wrap">(.*?)</pre>',
        block,
        flags=re.S,
    )


def escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def assert_inert(html: str) -> None:
    assert SCRIPT not in html
    assert IMG not in html


def test_review_screen_shows_every_turn_escaped(client, db_session, admin_user):
    author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user, members=[author, reviewer])
    item = conversation(db_session, project, author)
    login(client, reviewer.email)
    page = client.get(f"/items/{item.id}/review")
    assert page.status_code == 200
    assert_inert(page.text)
    expected = [("system", SYSTEM)] + [(t["role"], t["content"]) for t in TURNS]
    assert shown_messages(page.text) == [(role, escaped(text)) for role, text in expected]
    assert "Turn 3 · user" in page.text
    assert 'id="decision-form"' in page.text


def test_labeling_shows_every_turn_escaped(client, db_session, admin_user):
    author, labeler = make_user(db_session), make_user(db_session)
    project = make_project(db_session, admin_user, members=[author, labeler])
    item = conversation(db_session, project, author)
    login(client, labeler.email)
    page = client.get(f"/projects/{project.id}/label")
    assert f"Item #{item.id}" in page.text
    assert_inert(page.text)
    assert [role for role, _ in shown_messages(page.text)] == ["system"] + [
        t["role"] for t in TURNS
    ]
    assert escaped(TURNS[2]["content"]) in page.text
    # A conversation can be labeled as one, with its own key.
    assert 'name="kind" value="conversation" data-key="v" checked' in page.text


def test_history_diffs_turn_by_turn_and_shows_the_content(client, db_session, admin_user):
    author = make_user(db_session)
    project = make_project(db_session, admin_user, members=[author])
    item = conversation(db_session, project, author, submit=False)
    edited = [
        TURNS[0],
        {"role": "assistant", "content": "First answer & much more."},
        {"role": "user", "content": f"An inserted question {SCRIPT}"},
        {"role": "assistant", "content": "An inserted answer."},
        *TURNS[2:],
    ]
    items.update_item(
        session=db_session,
        item_id=item.id,
        draft=ItemDraft(kind="conversation", system=f"You are brief. {SCRIPT}", turns=edited),
        expected_version=item.version,
        editor=author,
    )
    login(client, author.email)
    page = client.get(f"/items/{item.id}/history")
    assert page.status_code == 200
    assert_inert(page.text)
    diff = page.text.split('id="diff"', 1)[1].split("</table>", 1)[0]
    headings = re.findall(r'data-change="(\w+)"><th colspan="2"><span[^>]*>([^<]*)</span>', diff)
    assert headings == [
        ("changed", "Turn 2 (assistant)"),
        ("added", "Turn 3 (user) added"),
        ("added", "Turn 4 (assistant) added"),
    ]
    assert "<ins>much </ins>" in diff
    assert f"<ins>An inserted question {escaped(SCRIPT)}</ins>" in diff
    # The system prompt diffs as a field; a conversation's instruction and output are turns.
    assert '<th colspan="2">system</th>' in diff
    assert "<del>careful</del>" in diff and "<ins>brief</ins>" in diff
    assert '<th colspan="2">instruction</th>' not in diff
    assert '<th colspan="2">output</th>' not in diff
    content = page.text.split('id="revision-content"', 1)[1]
    assert "Content of v2" in content
    assert content.count('data-role="user"') == 3


def test_turn_rows_mark_removed_and_changed_turns():
    old = [dict(t) for t in TURNS]
    new = [TURNS[0], {"role": "assistant", "content": "Only one answer now."}]
    rows = revisions.turn_rows(old, new)
    assert [(r["turn"]["change"], r["turn"]["n"], r["turn"]["role"]) for r in rows] == [
        ("changed", 2, "assistant"),
        ("removed", 3, "user"),
        ("removed", 4, "assistant"),
    ]
    removed = rows[1]
    assert [s.op for s in removed["left"]] == ["delete"] and removed["right"] == []
    assert revisions.turn_rows(old, old) == []


def test_compare_keeps_the_fields_of_other_kinds(db_session, admin_user):
    author = make_user(db_session)
    project = make_project(db_session, admin_user, members=[author])
    item = items.create_item(
        session=db_session,
        project=project,
        author=author,
        draft=ItemDraft(kind="task", instruction="Say hi.", output="Hi."),
    )
    items.update_item(
        session=db_session,
        item_id=item.id,
        draft=ItemDraft(kind="task", instruction="Say hi.", output="Hello.", system="Be warm."),
        expected_version=item.version,
        editor=author,
    )
    old, new = db_session.query(ItemRevision).filter_by(item_id=item.id).order_by("version")
    changed = [row["field"] for row in revisions.compare(old, new) if row["changed"]]
    assert changed == ["output", "system"]
