"""A preference pair on the review, labeling, history and list pages: the prompt, then the
chosen and the rejected response side by side with each one's constraint verdicts, where the
pair came from (with links), hostile text escaped everywhere; the history's diff of the
rejected response; the list's badge, gist and kind filter."""

from __future__ import annotations

import re

import pytest

from app.core.provenance import Origin, Provenance
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import ItemRevision
from app.revisions import service as revisions
from tests.editor_helpers import IMG, SCRIPT
from tests.factories import join, make_user
from tests.helpers import login
from tests.review_factories import make_item, make_project

CHOSEN = f"the chosen answer, all in lower case {SCRIPT}"
REJECTED = f"The Rejected Answer Shouts {IMG}"
LOWERCASE = [{"id": "change_case:english_lowercase", "params": {}}]
TURNS = [
    {"role": "user", "content": f"Hello {IMG}"},
    {"role": "assistant", "content": "Hi, how can I help?"},
    {"role": "user", "content": f"Answer me {SCRIPT}"},
]


def make_pair(session, project, author, *, submit=True, provenance=None, **extra):
    fields = {
        "instruction": f"Answer the question {SCRIPT}",
        "output": CHOSEN,
        "rejected": REJECTED,
        "constraints": LOWERCASE,
    }
    draft = ItemDraft(kind="preference", **{**fields, **extra})
    return items.create_item(
        session=session,
        project=project,
        draft=draft,
        author=author,
        submit=submit,
        provenance=provenance,
    )


def escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def assert_inert(html: str) -> None:
    assert SCRIPT not in html
    assert IMG not in html


def responses(html: str) -> list[tuple[str, str, str]]:
    """(side, heading, escaped text) of each response the pair macro shows, in order."""
    return re.findall(
        r'data-side="(\w+)">\s*<h3 class="role">([^<]*)</h3>\s*<pre class="wrap">(.*?)</pre>',
        html,
        flags=re.S,
    )


def verdicts(html: str, side: str) -> list[tuple[str, str]]:
    block = html.split(f'id="verdicts-{side}"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'data-constraint="([^"]+)" data-state="(\w+)"', block)


@pytest.fixture
def people(db_session, admin_user):
    author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user, members=[author, reviewer])
    return project, author, reviewer


class TestReview:
    def test_the_prompt_then_both_responses_with_their_verdicts(self, client, db_session, people):
        project, author, reviewer = people
        item = make_pair(db_session, project, author)
        login(client, reviewer.email)
        page = client.get(f"/items/{item.id}/review")
        assert page.status_code == 200
        assert_inert(page.text)
        assert responses(page.text) == [
            ("chosen", "Chosen response", escaped(CHOSEN)),
            ("rejected", "Rejected response", escaped(REJECTED)),
        ]
        assert verdicts(page.text, "chosen") == [("change_case:english_lowercase", "pass")]
        assert verdicts(page.text, "rejected") == [("change_case:english_lowercase", "fail")]
        content = page.text.split('id="item-content"', 1)[1].split('id="item-content-responses"')[0]
        assert re.findall(r'class="msg msg-(\w+)"', content) == ["user"]  # the prompt alone
        assert escaped("Answer the question") in content
        assert 'id="decision-form"' in page.text
        assert "/static/css/pairs.css" in page.text

    def test_a_prompt_of_turns_is_numbered(self, client, db_session, people):
        project, author, reviewer = people
        item = make_pair(
            db_session, project, author, instruction="", turns=TURNS, system="Be kind."
        )
        login(client, reviewer.email)
        page = client.get(f"/items/{item.id}/review")
        assert_inert(page.text)
        content = page.text.split('id="item-content"', 1)[1].split('id="item-content-responses"')[0]
        assert re.findall(r'class="msg msg-(\w+)"', content) == [
            "system",
            "user",
            "assistant",
            "user",
        ]
        assert "Turn 3 · user" in content
        assert [side for side, _, _ in responses(page.text)] == ["chosen", "rejected"]

    def test_a_judged_pair_links_its_round_and_shows_votes_and_reasons(
        self, client, db_session, people
    ):
        project, author, reviewer = people
        source = make_item(db_session, project, author)
        provenance = Provenance(
            origin=Origin.judged,
            round_id=7,
            round_prompt_id=70,
            job_id=3,
            item_id=source.id,
            system="3:tuned",
            reasons=["incomplete", f"tag {SCRIPT}"],
            votes=f"2–1 {IMG}",
        )
        item = make_pair(db_session, project, author, provenance=provenance)
        login(client, reviewer.email)
        page = client.get(f"/items/{item.id}/review")
        assert_inert(page.text)
        made = page.text.split('id="item-made"', 1)[1].split("</p>", 1)[0]
        assert 'data-origin="judged"' in made
        assert 'href="/rounds/7" data-source="round">Round 7</a>' in made
        assert 'href="/jobs/3" data-source="job">Job 3</a>' in made
        assert f'href="/items/{source.id}/edit" data-source="item">Item #{source.id}</a>' in made
        assert escaped(f"Votes: 2–1 {IMG}") in made
        # A judge's reason reads as the judging screen names it; anything else as stored.
        assert re.findall(r'data-reason="[^"]*">([^<]*)</span>', made) == [
            "Incomplete",
            escaped(f"tag {SCRIPT}"),
        ]

    def test_an_improved_pair_links_its_job_and_item(self, client, db_session, people):
        project, author, reviewer = people
        provenance = Provenance(origin=Origin.improved, job_id=12, item_id=99)
        item = make_pair(db_session, project, author, provenance=provenance)
        login(client, reviewer.email)
        page = client.get(f"/items/{item.id}/review")
        made = page.text.split('id="item-made"', 1)[1].split("</p>", 1)[0]
        assert 'data-origin="improved"' in made
        assert 'href="/jobs/12" data-source="job"' in made
        assert 'href="/items/99/edit" data-source="item"' in made
        assert 'data-source="round"' not in made


def test_labeling_shows_the_pair_escaped_and_offers_its_kind(client, db_session, people):
    project, author, _reviewer = people
    labeler = make_user(db_session)
    join(db_session, project, labeler)
    improved = Provenance(origin=Origin.improved, job_id=4)
    item = make_pair(db_session, project, author, provenance=improved)
    login(client, labeler.email)
    page = client.get(f"/projects/{project.id}/label")
    assert f"Item #{item.id}" in page.text
    assert_inert(page.text)
    assert responses(page.text) == [
        ("chosen", "Chosen response", escaped(CHOSEN)),
        ("rejected", "Rejected response", escaped(REJECTED)),
    ]
    assert verdicts(page.text, "rejected") == [("change_case:english_lowercase", "fail")]
    assert 'href="/jobs/4" data-source="job"' in page.text
    assert 'name="kind" value="preference" data-key="p" checked' in page.text


class TestHistory:
    def _edited(self, db_session, people, rejected):
        project, author, _reviewer = people
        item = make_pair(db_session, project, author, submit=False)
        items.update_item(
            session=db_session,
            item_id=item.id,
            draft=ItemDraft(
                kind="preference",
                instruction=item.instruction,
                output=CHOSEN,
                rejected=rejected,
                constraints=LOWERCASE,
            ),
            expected_version=item.version,
            editor=author,
        )
        return item, author

    def test_the_rejected_response_diffs_under_its_name(self, client, db_session, people):
        item, author = self._edited(db_session, people, f"The Rejected Answer Whispers {SCRIPT}")
        login(client, author.email)
        page = client.get(f"/items/{item.id}/history?a=1&b=2")
        assert page.status_code == 200
        assert_inert(page.text)
        diff = page.text.split('id="diff"', 1)[1].split("</table>", 1)[0]
        headings = re.findall(r'<tr data-field="(\w+)"><th colspan="2">([^<]*)</th>', diff)
        assert headings == [("rejected", "Rejected response")]
        assert "<del>Shouts</del>" in diff and "<ins>Whispers</ins>" in diff
        content = page.text.split('id="revision-content"', 1)[1]
        assert responses(content)[1] == (
            "rejected",
            "Rejected response",
            escaped(f"The Rejected Answer Whispers {SCRIPT}"),
        )
        assert verdicts(content, "rejected") == [("change_case:english_lowercase", "fail")]

    def test_a_pairs_output_row_is_its_chosen_response(self, db_session, people):
        project, author, _reviewer = people
        item = make_pair(db_session, project, author, submit=False, instruction="", turns=TURNS)
        items.update_item(
            session=db_session,
            item_id=item.id,
            draft=ItemDraft(
                kind="preference",
                turns=[*TURNS[:2], {"role": "user", "content": "Changed question"}],
                output="a new chosen answer",
                rejected=REJECTED,
            ),
            expected_version=item.version,
            editor=author,
        )
        old, new = db_session.query(ItemRevision).filter_by(item_id=item.id).order_by("version")
        rows = [row for row in revisions.compare(old, new) if row["changed"]]
        assert [(row["field"], row["label"]) for row in rows] == [
            ("output", "Chosen response"),
            ("constraints", None),
            ("turns", None),
        ]
        # The instruction is the first user turn, which did not change; it never diffs apart.
        assert "instruction" not in [row["field"] for row in revisions.compare(old, new)]

    def test_other_kinds_keep_their_field_names(self, db_session, people):
        project, author, _reviewer = people
        item = make_item(db_session, project, author, submit=False)
        items.update_item(
            session=db_session,
            item_id=item.id,
            draft=ItemDraft(kind="task", instruction=item.instruction, output="Changed."),
            expected_version=item.version,
            editor=author,
        )
        old, new = db_session.query(ItemRevision).filter_by(item_id=item.id).order_by("version")
        changed = [(r["field"], r["label"]) for r in revisions.compare(old, new) if r["changed"]]
        assert changed == [("input", None), ("output", None)]


class TestList:
    def test_a_pair_shows_its_badge_and_both_responses_first_words(
        self, client, db_session, people
    ):
        project, author, _reviewer = people
        long_chosen = "word " * 60 + SCRIPT
        item = make_pair(db_session, project, author, output=long_chosen, constraints=[])
        make_item(db_session, project, author)
        login(client, author.email)
        page = client.get(f"/projects/{project.id}/items")
        assert page.status_code == 200
        assert_inert(page.text)
        row = page.text.split(f'<tr data-item="{item.id}">', 1)[1].split("</tr>", 1)[0]
        assert "data-pair>pair</span>" in row
        gist = row.split("data-gist>", 1)[1]
        chosen = re.search(r'class="gist-chosen"><span class="sr-only">[^<]*</span>([^<]*)<', gist)
        assert chosen and chosen.group(1).endswith("word…")
        assert len(chosen.group(1)) < 100  # the first words only
        assert escaped(REJECTED) in gist
        assert "/static/css/pairs.css" in page.text

    def test_the_kind_filter_offers_pairs(self, client, db_session, people):
        project, author, _reviewer = people
        pair = make_pair(db_session, project, author)
        task = make_item(db_session, project, author)
        login(client, author.email)
        page = client.get(f"/projects/{project.id}/items?kind=preference")
        assert '<option value="preference" selected>preference pair</option>' in page.text
        assert f'data-item="{pair.id}"' in page.text
        assert f'data-item="{task.id}"' not in page.text

    def test_search_finds_a_pair_by_its_rejected_response(self, client, db_session, people):
        project, author, _reviewer = people
        pair = make_pair(db_session, project, author, rejected="Quokkas are marsupials.")
        login(client, author.email)
        page = client.get(f"/projects/{project.id}/items?q=quokkas")
        assert f'data-item="{pair.id}"' in page.text
