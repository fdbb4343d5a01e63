"""Evaluation rounds through the services: prompts shared by two systems, blind and balanced
sides, overlap, judgments in the systems' terms, closing, and who sees results."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.evaluation import judging, rounds
from app.evaluation.judging import JudgmentInput
from app.evaluation.rounds import RoundInput
from app.models import AuditEvent, EvalJudgment, EvalRoundPrompt
from tests.eval_factories import finished_job, judge_all, make_round, reviewers
from tests.factories import join, make_user
from tests.job_factories import run_job


@pytest.fixture
def done(db_session):
    return finished_job(db_session)


def _prompts(session, found):
    return list(
        session.scalars(
            select(EvalRoundPrompt)
            .where(EvalRoundPrompt.round_id == found.id)
            .order_by(EvalRoundPrompt.position)
        )
    )


class TestCreate:
    def test_copies_both_outputs_of_every_shared_prompt(self, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job)
        prompts = _prompts(db_session, found)
        assert len(prompts) == len(job_predictions(db_session, job)) >= 20
        first = prompts[0]
        assert first.output_b == "no idea" and first.output_a == first.reference
        assert first.messages[-1]["role"] == "user" and first.messages[-1]["content"]
        assert {p.language for p in prompts} == {"en", "zh"}
        assert {p.domain for p in prompts} == {"travel", "food"}
        event = db_session.scalar(
            select(AuditEvent).where(AuditEvent.action == "eval_round.created")
        )
        assert event.after["prompts"] == len(prompts) and event.after["a"] == f"{job.id}:tuned"

    def test_filters_and_samples_reproducibly(self, db_session, done):
        project, admin, job = done
        zh = make_round(db_session, project, admin, job, language="zh")
        assert {p.language for p in _prompts(db_session, zh)} == {"zh"}
        sampled = [
            [
                p.item_id
                for p in _prompts(
                    db_session, make_round(db_session, project, admin, job, limit=5, seed=7)
                )
            ]
            for _ in range(2)
        ]
        assert len(sampled[0]) == 5 and sampled[0] == sampled[1]
        data = RoundInput(name="n", a=f"{job.id}:tuned", b="reference", domain="food")
        assert rounds.count_prompts(db_session, project=project, data=data) == len(
            [p for p in _prompts(db_session, zh)]
        )

    def test_two_jobs_are_compared_on_the_prompts_both_have(self, db_session, done):
        project, admin, job = done
        other, _ = run_job(db_session, job_version(db_session, job), admin)
        found = make_round(db_session, project, admin, job, b=f"{other.id}:tuned")
        assert len(_prompts(db_session, found)) == len(job_predictions(db_session, job))

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"b": "{job}:tuned"}, "b"),
            ({"a": "reference", "b": "reference"}, "b"),
            ({"a": "nonsense"}, "system"),
            ({"a": "999999:tuned"}, "system"),
            ({"judges": "named", "judge_ids": []}, "judge_ids"),
            ({"language": "fr"}, "b"),
        ],
    )
    def test_refuses_what_cannot_be_judged(self, db_session, done, fields, field):
        project, admin, job = done
        fields = {k: v.format(job=job.id) if isinstance(v, str) else v for k, v in fields.items()}
        with pytest.raises(InvalidInput) as caught:
            make_round(db_session, project, admin, job, **fields)
        assert field in caught.value.errors

    def test_refuses_an_unfinished_job_and_outsiders_as_judges(self, db_session, done):
        project, admin, job = done
        version = job_version(db_session, job)
        running, _ = run_job(db_session, version, admin, finish=False)
        with pytest.raises(InvalidInput, match="has not finished"):
            make_round(db_session, project, admin, job, b=f"{running.id}:tuned")
        outsider = make_user(db_session)
        with pytest.raises(InvalidInput, match="not a member"):
            make_round(db_session, project, admin, job, judges="named", judge_ids=[outsider.id])


class TestJudging:
    def test_sides_are_balanced_and_reproducible_per_judge(self, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, seed=11)
        ids = [p.id for p in _prompts(db_session, found)]
        for judge_id in range(1, 30):
            walk = judging.walk_for(found, ids, judge_id)
            assert walk == judging.walk_for(found, list(reversed(ids)), judge_id)
            left = sum(not s for s in walk.swapped.values())
            assert abs(left - (len(ids) - left)) <= 1
        orders = {tuple(judging.walk_for(found, ids, j).order) for j in range(1, 6)}
        assert len(orders) == 5  # each judge walks the prompts in an order of their own

    def test_overlap_is_met_and_no_judge_sees_a_prompt_twice(self, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, overlap=2)
        judges = reviewers(db_session, project, 3)
        made = judge_all(db_session, found, judges, lambda judge, position: "a")
        prompts = _prompts(db_session, found)
        assert made == 2 * len(prompts)
        rows = list(db_session.scalars(select(EvalJudgment)))
        per_prompt = {}
        for row in rows:
            per_prompt.setdefault(row.prompt_id, []).append(row.judge_id)
        assert all(len(v) == 2 == len(set(v)) for v in per_prompt.values())
        assert {r.verdict for r in rows} == {"a"}  # stored in the systems' terms
        assert {r.swapped for r in rows} == {True, False}
        progress = judging.progress(db_session, found=found)
        assert progress.share == 1.0 and sum(progress.per_judge.values()) == made

    def test_the_screen_choice_maps_through_the_side(self, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job)
        (judge,) = reviewers(db_session, project, 1)
        seat = judging.seat_of(db_session, found=found, judge=judge)
        prompt_id = seat.next_id
        saved = judging.submit(
            session=db_session,
            found=found,
            judge=judge,
            data=JudgmentInput(prompt_id=prompt_id, choice="first", reasons=["wrong"]),
        )
        assert saved.verdict == ("b" if seat.walk.swapped[prompt_id] else "a")
        # Changing it with a stale version is refused; with the current one it changes.
        with pytest.raises(Conflict):
            judging.submit(
                session=db_session,
                found=found,
                judge=judge,
                data=JudgmentInput(prompt_id=prompt_id, choice="tie", version=saved.version + 5),
            )
        judging.submit(
            session=db_session,
            found=found,
            judge=judge,
            data=JudgmentInput(prompt_id=prompt_id, choice="tie", version=saved.version),
        )
        assert saved.verdict == "tie"
        actions = db_session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "eval_judgment")
        )
        assert list(actions) == ["eval_judgment.created", "eval_judgment.changed"]

    def test_a_prompt_filled_while_a_judge_read_it_still_takes_their_answer(self, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, limit=1)  # one prompt, overlap 1
        first, second = reviewers(db_session, project, 2)
        seats = [judging.seat_of(db_session, found=found, judge=j) for j in (first, second)]
        assert seats[0].next_id == seats[1].next_id is not None  # both were handed it
        for judge in (first, second):
            judging.submit(
                session=db_session,
                found=found,
                judge=judge,
                data=JudgmentInput(prompt_id=seats[0].next_id, choice="tie"),
            )
        assert rounds.judgment_count(db_session, found.id) == 2

    def test_rating_rounds_derive_the_verdict_from_the_ratings(self, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, mode="rating")
        (judge,) = reviewers(db_session, project, 1)
        seat = judging.seat_of(db_session, found=found, judge=judge)
        saved = judging.submit(
            session=db_session,
            found=found,
            judge=judge,
            data=JudgmentInput(
                prompt_id=seat.next_id, rating_first=2, rating_second=5, correct_second=True
            ),
        )
        swapped = seat.walk.swapped[seat.next_id]
        assert (saved.rating_a, saved.rating_b) == ((5, 2) if swapped else (2, 5))
        assert saved.verdict == ("a" if swapped else "b")
        assert (saved.correct_a if swapped else saved.correct_b) is True

    def test_only_judges_judge_only_their_prompts_only_while_open(self, db_session, done):
        project, admin, job = done
        (named,) = reviewers(db_session, project, 1)
        found = make_round(db_session, project, admin, job, judges="named", judge_ids=[named.id])
        other = make_user(db_session, role="reviewer")
        join(db_session, project, other, role="reviewer")
        prompt_id = _prompts(db_session, found)[0].id
        with pytest.raises(Forbidden):
            judging.submit(
                session=db_session,
                found=found,
                judge=other,
                data=JudgmentInput(prompt_id=prompt_id, choice="tie"),
            )
        seat = judging.seat_of(db_session, found=found, judge=named)
        not_next = next(p for p in seat.walk.order if p != seat.next_id)
        with pytest.raises(NotFound):
            judging.submit(
                session=db_session,
                found=found,
                judge=named,
                data=JudgmentInput(prompt_id=not_next, choice="tie"),
            )
        rounds.close_round(db_session, found=found, actor=admin)
        with pytest.raises(Conflict):
            judging.submit(
                session=db_session,
                found=found,
                judge=named,
                data=JudgmentInput(prompt_id=seat.next_id, choice="tie"),
            )
        with pytest.raises(Conflict):
            rounds.close_round(db_session, found=found, actor=admin)


class TestWhoSeesResults:
    def test_judges_wait_for_the_close_and_managers_who_judged_too(self, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job)
        manager, judge = make_user(db_session), make_user(db_session)
        join(db_session, project, manager, role="manager")
        join(db_session, project, judge, role="reviewer")
        assert rounds.sees_results(db_session, found=found, user=manager)
        assert not rounds.sees_results(db_session, found=found, user=judge)
        judge_all(db_session, found, [manager], lambda judge, position: "b")
        assert not rounds.sees_results(db_session, found=found, user=manager)
        rounds.close_round(db_session, found=found, actor=admin)
        assert rounds.sees_results(db_session, found=found, user=manager)
        assert rounds.sees_results(db_session, found=found, user=judge)


def job_predictions(session, job):
    from app.models import EvalPrediction

    return list(session.scalars(select(EvalPrediction).where(EvalPrediction.job_id == job.id)))


def job_version(session, job):
    from app.models import DatasetVersion

    return session.get(DatasetVersion, job.dataset_version_id)
