"""Statistics of conversations: how many, turns per conversation and model tokens per turn (by
role), in a project's statistics, a frozen version's and the pages' chart data."""

from __future__ import annotations

import html
import json
import re
from collections import Counter

from app.datasets import freezing, statistics
from app.datasets.statistics import LENGTH, TURNS, TokenPieces, stat_text
from app.datasets.versions import VersionFilter
from app.items import service as items
from app.items.schemas import ItemDraft
from app.tokenizer import count_tokens
from tests.api_helpers import member
from tests.dataset_factories import approved_project
from tests.helpers import login

SYSTEM = "Answer in one short sentence."
# An answer of some 30 words, many more tokens than the other turns.
LONG_ANSWER = (
    "The sun is about one hundred and fifty million kilometres away, so its light takes "
    "a little more than eight minutes to reach us, which is why we always see it as it was."
)


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


MOON = [user("How far is the moon?"), assistant("About a light second."),
        user("And the sun?"), assistant(LONG_ANSWER)]  # fmt: skip
GREETING = [user("Hi there."), assistant("Hello.")]
# A draft whose last answer is still to be written: a turn, but no tokens to count yet.
UNFINISHED = [user("Name a planet."), assistant("Mars."), user("Another one?"), assistant("")]

APPROVED = [
    ItemDraft(kind="conversation", system=SYSTEM, turns=MOON),
    ItemDraft(kind="conversation", turns=GREETING),
    ItemDraft(kind="task", instruction="Say hello in French.", output="Bonjour."),
]


def written_turns(*conversations):
    return [turn for turns in conversations for turn in turns if turn["content"]]


def conversation_project(session):
    """Two approved conversations and a task, and a draft conversation."""
    project, admin, created = approved_project(session, drafts=APPROVED, name="Chats")
    author = session.get(type(admin), created[0].author_id)
    items.create_item(
        session=session,
        project=project,
        draft=ItemDraft(kind="conversation", turns=UNFINISHED),
        author=author,
    )
    return project, admin


def chart_data(page: str, chart_id: str, attribute: str):
    tag = re.search(rf'<div [^>]*id="{chart_id}"[^>]*>', page)
    assert tag, f"no {chart_id}"
    match = re.search(rf"{attribute}='([^']*)'", tag.group(0))
    assert match, f"{chart_id} has no {attribute}"
    return json.loads(html.unescape(match.group(1)))


class TestFigures:
    def test_project_counts_conversations_turns_and_tokens_per_turn(self, db_session):
        project, _admin = conversation_project(db_session)
        figures = statistics.project_stats(db_session, project.id)
        assert figures["total"] == 4
        assert figures["conversations"] == 3
        assert figures["counts"]["kind"] == {"conversation": 3, "task": 1}
        assert figures["turns"] == {
            "2": 1, "4": 2, "6": 0, "8": 0, "10–12": 0, "14–18": 0, "20–38": 0, "40+": 0
        }  # fmt: skip
        turn_tokens = figures["turn_tokens"]
        assert set(turn_tokens) == {"user", "assistant"}
        turns = written_turns(MOON, GREETING, UNFINISHED)
        for role in ("user", "assistant"):
            expected = Counter(LENGTH.label(count_tokens(t["content"])) for t in turns
                               if t["role"] == role)  # fmt: skip
            assert {k: n for k, n in turn_tokens[role].items() if n} == dict(expected)
        # Five user turns; four assistant turns written, the draft's last one not yet.
        assert sum(turn_tokens["user"].values()) == 5
        assert sum(turn_tokens["assistant"].values()) == 4
        # The long answer is the one turn in its bin, far from the short turns'.
        long_bin = LENGTH.label(count_tokens(LONG_ANSWER))
        assert long_bin != "0–9" and turn_tokens["assistant"][long_bin] == 1
        assert turn_tokens["assistant"]["0–9"] == 3 and turn_tokens["user"]["0–9"] == 5

    def test_a_frozen_version_counts_its_own_conversations(self, db_session):
        project, admin = conversation_project(db_session)
        version = freezing.create_version(
            session=db_session, project=project, name="v1", f=VersionFilter(), actor=admin
        )
        stats = version.stats
        assert stats["total"] == 3  # the draft is not approved
        assert stats["conversations"] == 2
        assert {k: n for k, n in stats["turns"].items() if n} == {"2": 1, "4": 1}
        assert sum(stats["turn_tokens"]["user"].values()) == 3
        assert sum(stats["turn_tokens"]["assistant"].values()) == 3
        # A resumed freeze reads the pinned revisions again and counts the same.
        figures = ("total", "words", "tokens", "conversations", "turns", "turn_tokens")
        before = {name: stats[name] for name in figures}
        freezing.add_statistics(db_session, version)
        assert {name: version.stats[name] for name in figures} == before

    def test_without_conversations_there_are_no_conversation_figures(self, db_session):
        project, *_ = approved_project(db_session, drafts=APPROVED[2:], name="Tasks only")
        figures = statistics.project_stats(db_session, project.id)
        assert (figures["conversations"], figures["turns"], figures["turn_tokens"]) == (0, {}, {})


class TestDefinitions:
    def test_a_conversation_counts_its_system_prompt_and_every_turn(self):
        snap = {"kind": "conversation", "system": SYSTEM, "turns": MOON,
                "instruction": MOON[0]["content"], "output": LONG_ANSWER}  # fmt: skip
        assert stat_text(snap) == "\n".join([SYSTEM, *(t["content"] for t in MOON)])
        task = {"kind": "task", "system": SYSTEM, "instruction": "Hi.", "output": "Hello."}
        assert stat_text(task) == f"{SYSTEM}\nHi.\nHello."

    def test_an_items_tokens_are_its_pieces_tokens(self):
        rows = [
            ("train", {"kind": "conversation", "system": SYSTEM, "turns": MOON}, None),
            ("train", {"kind": "task", "instruction": "Say hi.", "output": "Hi."}, None),
            ("eval", {"kind": "conversation", "turns": UNFINISHED}, None),
        ]
        pieces = TokenPieces.of(rows, [stat_text(snap) for _, snap, _ in rows])
        counts = [count_tokens(text) for text in pieces.texts]
        conversation = count_tokens(SYSTEM) + sum(count_tokens(t["content"]) for t in MOON)
        expected = Counter(
            [conversation, count_tokens("Say hi.\nHi.")]
            + [sum(count_tokens(t["content"]) for t in UNFINISHED)]
        )
        assert pieces.per_item(counts) == expected
        per_turn = pieces.per_turn(counts)
        assert per_turn["user"].total() == 4 and per_turn["assistant"].total() == 3

    def test_turn_bins_are_labelled_by_the_even_counts_they_hold(self):
        assert [TURNS.label(n) for n in (2, 4, 8, 10, 12, 14, 18, 20, 38, 40, 100)] == [
            "2", "4", "8", "10–12", "10–12", "14–18", "14–18", "20–38", "20–38", "40+", "40+"
        ]  # fmt: skip
        # The length bins keep the labels earlier versions were stored with.
        assert [LENGTH.label(n) for n in (0, 9, 10, 799, 800)] == [
            "0–9", "0–9", "10–24", "400–799", "800+"
        ]  # fmt: skip


class TestPages:
    def test_the_statistics_page_and_the_api_carry_the_conversation_charts(
        self, client, db_session
    ):
        project, admin = conversation_project(db_session)
        login(client, admin.email)
        page = client.get(f"/projects/{project.id}/stats")
        assert page.status_code == 200
        figures = statistics.project_stats(db_session, project.id)
        assert chart_data(page.text, "turns-chart", "data-hist") == figures["turns"]
        assert chart_data(page.text, "turn-tokens-chart", "data-hists") == figures["turn_tokens"]
        assert chart_data(page.text, "turn-tokens-chart", "data-labels") == {
            "user": "user",
            "assistant": "assistant",
        }
        assert "3 conversations" in page.text
        response = client.get(
            f"/api/v1/projects/{project.id}/stats", headers=member(db_session, project, "reviewer")
        )
        content = response.json()["content"]
        assert content["conversations"] == 3
        assert content["turns"] == figures["turns"]
        assert content["turn_tokens"] == figures["turn_tokens"]

    def test_the_version_page_draws_its_conversation_charts(self, client, db_session):
        project, admin = conversation_project(db_session)
        version = freezing.create_version(
            session=db_session, project=project, name="v1", f=VersionFilter(), actor=admin
        )
        login(client, admin.email)
        page = client.get(f"/datasets/{version.id}")
        assert page.status_code == 200
        assert chart_data(page.text, "turns-chart", "data-hist") == version.stats["turns"]
        hists = chart_data(page.text, "turn-tokens-chart", "data-hists")
        assert hists == version.stats["turn_tokens"]
        assert "2 conversations" in page.text

    def test_pages_without_conversations_draw_no_conversation_charts(self, client, db_session):
        project, admin, _ = approved_project(db_session, drafts=APPROVED[2:], name="Tasks")
        version = freezing.create_version(
            session=db_session, project=project, name="v1", f=VersionFilter(), actor=admin
        )
        login(client, admin.email)
        for url in (f"/projects/{project.id}/stats", f"/datasets/{version.id}"):
            page = client.get(url)
            assert page.status_code == 200
            assert 'id="conversation-stats"' not in page.text
            assert "hist-chart" in page.text  # the length charts are still there
