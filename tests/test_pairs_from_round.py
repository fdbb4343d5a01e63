"""Preference pairs from a closed pairwise round, on both databases: which prompts agree under
each rule (ties and "both bad" never make pairs), what a pair holds (the winner's output
chosen, the prompt the judges saw, provenance with reasons and votes), making them twice, and
the rounds that are refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.kinds import ItemContent, ItemKind
from app.core.prompts import prompt_messages
from app.errors import Conflict
from app.evaluation import rounds
from app.models import AuditEvent, EvalJudgment, EvalRoundPrompt, Item
from app.pairs import from_round
from app.pairs.from_round import PairRule, winner
from tests.round_pair_factories import judged_round

# The verdicts of three judges on the prompt at each position (in the systems' terms).
VERDICTS = {
    1: ("a", "a", "a"),  # unanimous A
    2: ("a", "a", "tie"),  # majority A: a tie is a vote for neither
    3: ("a", "tie", "tie"),  # no majority
    4: ("b", "b", "b"),  # unanimous B
    5: ("tie", "tie", "tie"),  # a tie never makes a pair
    6: ("both_bad", "both_bad", "both_bad"),  # nor does "both bad"
    7: ("a", "b", "tie"),  # split
    8: ("a", "a", "both_bad"),  # majority A
    9: ("b", "b", "a"),  # majority B
}
REASONS = {0: ["incomplete", "wrong"], 1: ["wrong"], 2: []}


def _answer(index: int, position: int) -> tuple[str, list[str]]:
    verdict = VERDICTS.get(position, ("both_bad",) * 3)[index]
    return verdict, REASONS[index] if verdict in ("a", "b") else []


@pytest.fixture
def judged(db_session):
    """A closed round of eleven prompts that three reviewers judged by VERDICTS."""
    return judged_round(db_session, _answer)


def _prompts(session, found) -> dict[int, EvalRoundPrompt]:
    return {
        p.position: p
        for p in session.scalars(
            select(EvalRoundPrompt).where(EvalRoundPrompt.round_id == found.id)
        )
    }


def _pairs(session, found) -> dict[int, Item]:
    """The round's judged pairs by the position of their prompt."""
    positions = {p.id: p.position for p in _prompts(session, found).values()}
    items = session.scalars(select(Item).where(Item.origin == "judged"))
    return {
        positions[i.provenance["round_prompt_id"]]: i
        for i in items
        if i.provenance.get("round_id") == found.id
    }


class TestWinner:
    @pytest.mark.parametrize(
        ("verdicts", "unanimous", "majority"),
        [
            (["a", "a", "a"], "a", "a"),
            (["a", "a", "tie"], None, "a"),
            (["a", "tie"], None, None),
            (["a", "b"], None, None),
            (["b", "b", "both_bad"], None, "b"),
            (["tie", "tie"], None, None),
            (["both_bad"], None, None),
            ([], None, None),
        ],
    )
    def test_rules_count_every_judgment(self, verdicts, unanimous, majority):
        assert winner(verdicts, rule="unanimous", min_judgments=1) == unanimous
        assert winner(verdicts, rule="majority", min_judgments=1) == majority

    def test_too_few_judgments_make_no_winner(self):
        assert winner(["a"], rule="unanimous", min_judgments=2) is None
        assert winner(["a", "a"], rule="unanimous", min_judgments=2) == "a"


class TestRules:
    def test_unanimous_makes_only_the_prompts_every_judge_agreed_on(self, db_session, judged):
        project, admin, job, found, _ = judged
        outcome = from_round.make_pairs(
            db_session, found=found, data=PairRule(rule="unanimous"), actor=admin
        )
        made = _pairs(db_session, found)
        assert sorted(made) == [1, 4]
        assert sorted(outcome.made) == sorted(i.id for i in made.values())
        n = rounds.prompt_count(db_session, found.id)
        assert n > 9 and outcome.plan.prompts == n and outcome.plan.no_winner == n - 2
        assert outcome.plan.already == outcome.plan.identical == outcome.unusable == 0

    def test_majority_counts_ties_and_both_bad_as_votes_for_neither(self, db_session, judged):
        project, admin, job, found, _ = judged
        outcome = from_round.make_pairs(
            db_session, found=found, data=PairRule(rule="majority"), actor=admin
        )
        assert sorted(_pairs(db_session, found)) == [1, 2, 4, 8, 9]
        assert len(outcome.made) == 5 and outcome.plan.no_winner == outcome.plan.prompts - 5

    def test_the_winners_output_is_chosen_whatever_side_it_was_shown_on(self, db_session, judged):
        project, admin, job, found, _ = judged
        # Judges saw system A on the right for about half of their prompts: the stored
        # verdicts are in the systems' terms all the same.
        swaps = db_session.scalars(
            select(EvalJudgment.swapped).where(EvalJudgment.round_id == found.id)
        ).all()
        assert any(swaps) and not all(swaps)
        from_round.make_pairs(db_session, found=found, data=PairRule(rule="majority"), actor=admin)
        prompts, made = _prompts(db_session, found), _pairs(db_session, found)
        for position in (1, 2, 8):  # A (the tuned model) won
            assert (made[position].output, made[position].rejected) == (
                prompts[position].output_a,
                prompts[position].output_b,
            )
            assert made[position].provenance["system"] == f"{job.id}:tuned"
        for position in (4, 9):  # B (the base model) won
            assert (made[position].output, made[position].rejected) == (
                prompts[position].output_b,
                prompts[position].output_a,
            )
            assert made[position].provenance["system"] == f"{job.id}:base"

    def test_a_prompt_needs_the_fewest_judgments_asked(self, db_session):
        # Overlap 2, but only one judge came: every prompt has a single judgment.
        project, admin, job, found, _ = judged_round(
            db_session, lambda index, position: ("a", []), judges=1, overlap=2
        )
        none = from_round.plan(db_session, found=found, data=PairRule())
        assert none.min_judgments == 2 and not none.agreed and none.no_winner == none.prompts
        one = from_round.plan(db_session, found=found, data=PairRule(min_judgments=1))
        assert len(one.agreed) == one.prompts > 9
        assert {a.votes for a in one.agreed} == {1}

    def test_a_round_of_one_judgment_per_prompt_needs_one(self, db_session):
        project, admin, job, found, _ = judged_round(
            db_session, lambda index, position: ("b", []), judges=1, overlap=1
        )
        plan = from_round.plan(db_session, found=found, data=PairRule())
        assert plan.min_judgments == 1 and len(plan.agreed) == plan.prompts > 9


class TestPairs:
    def test_a_pair_holds_the_prompt_the_judges_saw_and_where_it_came_from(
        self, db_session, judged
    ):
        project, admin, job, found, _ = judged
        from_round.make_pairs(db_session, found=found, data=PairRule(rule="majority"), actor=admin)
        prompts, made = _prompts(db_session, found), _pairs(db_session, found)
        for position, pair in made.items():
            prompt = prompts[position]
            content = ItemContent.from_row(pair)
            assert content.kind is ItemKind.preference
            assert prompt_messages(content) == prompt.messages
            # The item's own structure: an instruction and its input, as the source item has.
            source = db_session.get(Item, prompt.item_id)
            assert (pair.instruction, pair.input) == (source.instruction, source.input)
            assert (pair.status, pair.author_id, pair.project_id) == ("draft", admin.id, project.id)
            assert (pair.language, pair.domain) == (prompt.language, prompt.domain)
        votes = {position: pair.provenance["votes"] for position, pair in made.items()}
        assert votes == {1: "3 of 3", 2: "2 of 3", 4: "3 of 3", 8: "2 of 3", 9: "2 of 3"}
        assert made[1].provenance == {
            "round_id": found.id,
            "round_prompt_id": prompts[1].id,
            "item_id": prompts[1].item_id,
            "system": f"{job.id}:tuned",
            # The winning judges' reasons, most frequent first.
            "reasons": ["wrong", "incomplete"],
            "votes": "3 of 3",
        }
        # Position 9: judges 0 and 1 named B, with their reasons; judge 2's A does not count.
        assert made[9].provenance["reasons"] == ["wrong", "incomplete"]

    def test_any_kind_of_prompt_becomes_a_pair_with_its_structure(self, db_session):
        project, admin, job, found, _ = judged_round(
            db_session, lambda index, position: ("b", ["unhelpful"]), mixed=True, judges=1,
            overlap=1,
        )  # fmt: skip
        outcome = from_round.make_pairs(db_session, found=found, data=PairRule(), actor=admin)
        prompts = {p.id: p for p in _prompts(db_session, found).values()}
        assert len(outcome.made) == len(prompts) and outcome.unusable == 0
        kinds = set()
        for item_id in outcome.made:
            pair = db_session.get(Item, item_id)
            prompt = prompts[pair.provenance["round_prompt_id"]]
            kinds.add(prompt.kind)
            assert prompt_messages(ItemContent.from_row(pair)) == prompt.messages
            assert pair.constraints == prompt.constraints
            if prompt.kind == "conversation":
                # The earlier turns, up to the user's last; the model's answer is the chosen one.
                assert [t["role"] for t in pair.turns] == ["user", "assistant", "user"]
                assert pair.system == "Answer in one sentence."
            if prompt.kind == "example":
                assert pair.demos and pair.input
        assert kinds == {"task", "constraint", "example", "conversation"}

    def test_without_its_revision_a_pair_is_rebuilt_from_the_messages(self, db_session, judged):
        project, admin, job, found, _ = judged
        prompt = _prompts(db_session, found)[1]
        prompt.content_hash = "0" * 64  # no revision of the item has it
        db_session.flush()
        from_round.make_pairs(db_session, found=found, data=PairRule(), actor=admin)
        pair = _pairs(db_session, found)[1]
        assert prompt_messages(ItemContent.from_row(pair)) == prompt.messages
        assert pair.turns == [{"role": "user", "content": prompt.messages[0]["content"]}]
        assert pair.state_constraints is False

    def test_pairs_are_searchable_items_with_an_audit_trail(self, db_session, judged):
        project, admin, job, found, _ = judged
        outcome = from_round.make_pairs(db_session, found=found, data=PairRule(), actor=admin)
        event = db_session.scalar(
            select(AuditEvent).where(AuditEvent.action == "pairs.made_from_round")
        )
        assert event.entity_type == "eval_round" and event.entity_id == str(found.id)
        assert event.actor_id == admin.id
        assert event.after == {
            "rule": "unanimous",
            "min_judgments": 2,
            "prompts": outcome.plan.prompts,
            "made": 2,
            "no_winner": outcome.plan.prompts - 2,
            "identical": 0,
            "already": 0,
            "unusable": 0,
        }
        created = db_session.scalars(
            select(AuditEvent.entity_id).where(AuditEvent.action == "item.created")
        ).all()
        assert {str(i) for i in outcome.made} <= set(created)


class TestTwice:
    def test_making_pairs_again_makes_each_pair_once(self, db_session, judged):
        project, admin, job, found, _ = judged
        first = from_round.make_pairs(db_session, found=found, data=PairRule(), actor=admin)
        again = from_round.make_pairs(db_session, found=found, data=PairRule(), actor=admin)
        assert len(first.made) == 2 and again.made == [] and again.plan.already == 2
        # A looser rule afterwards adds only the prompts it newly accepts.
        looser = from_round.make_pairs(
            db_session, found=found, data=PairRule(rule="majority"), actor=admin
        )
        assert len(looser.made) == 3 and looser.plan.already == 2
        assert sorted(_pairs(db_session, found)) == [1, 2, 4, 8, 9]

    def test_a_deleted_pair_is_made_again(self, db_session, judged):
        from app.items import service as items

        project, admin, job, found, _ = judged
        first = from_round.make_pairs(db_session, found=found, data=PairRule(), actor=admin)
        items.bulk_delete_drafts(
            session=db_session, project_id=project.id, item_ids=first.made[:1], actor=admin
        )
        again = from_round.make_pairs(db_session, found=found, data=PairRule(), actor=admin)
        assert len(again.made) == 1 and again.plan.already == 1

    def test_identical_outputs_make_no_pair(self, db_session, judged):
        project, admin, job, found, _ = judged
        prompt = _prompts(db_session, found)[1]
        prompt.output_b = f"  {prompt.output_a}\n"
        db_session.flush()
        plan = from_round.plan(db_session, found=found, data=PairRule())
        assert plan.identical == 1 and [a.prompt.position for a in plan.agreed] == [4]


class TestRefused:
    def test_an_open_round_makes_no_pairs(self, db_session):
        project, admin, job, found, _ = judged_round(
            db_session, lambda index, position: ("a", []), close=False
        )
        with pytest.raises(Conflict, match="Close the round first"):
            from_round.make_pairs(db_session, found=found, data=PairRule(), actor=admin)
        with pytest.raises(Conflict, match="Close the round first"):
            from_round.plan(db_session, found=found, data=PairRule())
        assert db_session.scalar(select(Item.id).where(Item.origin == "judged")) is None

    def test_a_rating_round_makes_no_pairs(self, db_session):
        project, admin, job, found, people = judged_round(
            db_session, lambda index, position: ("a", []), judges=0, mode="rating", close=False
        )
        rounds.close_round(db_session, found=found, actor=admin)
        with pytest.raises(Conflict, match="rating round"):
            from_round.make_pairs(db_session, found=found, data=PairRule(), actor=admin)
