"""The demo's job and the evaluation rounds built from its outputs (both backends).

The outputs here are chosen by the test, as a worker would report them; the demo itself only
ever judges what its job really generated.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import event, func, select

from app.core import protocol
from app.core.kinds import ItemContent
from app.datasets import versions
from app.demo import evaluation
from app.demo.evaluation import LENIENT, STRICT, pending_demo_job, verdict
from app.demo.loader import DEMO_PASSWORD, load_demo
from app.errors import Conflict
from app.evaluation import leaderboard, results, rounds
from app.evaluation.systems import System
from app.jobs import queue
from app.jobs import service as jobs
from app.jobs.forms import PRESETS
from app.models import (
    AuditEvent,
    DatasetVersion,
    EvalJudgment,
    EvalRound,
    EvalRoundPrompt,
    Item,
    Job,
    User,
)
from tests.helpers import login
from tests.job_factories import project_version, run_job, scores, worker_token


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def user(session, email: str) -> User:
    return session.scalar(select(User).where(User.email == email))


def en_tuned_zh_base(content: ItemContent, language: str) -> tuple[str, str]:
    """(base, tuned): the tuned output is the reference in English, the base one in Chinese."""
    if language == "zh":
        return content.output, "不知道"
    return "no idea", content.output


def run_to_the_end(session, job: Job, outputs=en_tuned_zh_base, predict: bool = True) -> Job:
    """Claim ``job`` and report its eval outputs and its success through ``app.jobs.queue``,
    as a worker does."""
    token = worker_token(session)
    claimed = queue.claim(session=session, worker="test-host:1", token_id=token)
    assert claimed is not None and claimed.id == job.id
    pinned = [row for row in versions.pinned(session, job.dataset_version_id) if predict]
    predictions = []
    for link, revision in pinned:
        if link.split != "eval":
            continue
        content = ItemContent.from_row(revision.snapshot)
        base, tuned = outputs(content, revision.snapshot.get("language") or "en")
        refs = [c.model_dump() for c in content.constraints]
        predictions.append(
            protocol.Prediction(
                item_id=link.item_id,
                kind=content.kind,
                reference=content.output,
                base_output=base,
                tuned_output=tuned,
                scores=scores(refs, content.output, base, tuned),
            )
        )
    if predictions:
        queue.record_predictions(
            session=session,
            job_id=job.id,
            batch=protocol.PredictionBatch(attempt=claimed.attempts, predictions=predictions),
            token_id=token,
        )
    queue.finish(
        session=session,
        job_id=job.id,
        attempt=claimed.attempts,
        token_id=token,
        status="succeeded",
        metrics={"steps": 40},
    )
    session.flush()
    return claimed


@pytest.fixture
def demo(db_session, admin_user):
    return load_demo(session=db_session, admin=admin_user)


class TestTheDemoQueuesOneJob:
    def test_one_short_tiny_job_marked_as_the_demos(self, db_session, admin_user, demo):
        job = db_session.scalar(select(Job))
        assert count(db_session, Job) == 1 and demo.job_id == job.id
        assert (job.status, job.base_model, job.dataset_version_id) == (
            "queued",
            "tiny",
            demo.version_id,
        )
        assert job.created_by == admin_user.id
        params = protocol.JobParams(**job.params)
        assert params == evaluation.JOB_PARAMS
        # The launch form's tiny preset, capped: seconds on two CPU cores.
        assert params.model_dump(include=set(PRESETS["tiny"])) == PRESETS["tiny"]
        assert params.max_steps <= 400 and params.generation.max_new_tokens <= 32
        marker = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "demo.job_queued"))
        assert marker.entity_id == str(job.id)
        # The project's manager judges strictly, its reviewer leniently.
        assert marker.after["judges"] == [
            user(db_session, "reviewer2@demo.local").id,
            user(db_session, "reviewer@demo.local").id,
        ]
        assert f"job {job.id}" in "\n".join(demo.lines())

    def test_the_evaluation_page_says_the_rounds_wait_for_the_job(self, client, db_session, demo):
        login(client, "reviewer@demo.local", password=DEMO_PASSWORD)
        page = client.get(f"/projects/{demo.project_id}/evaluation").text
        assert f"wait for job {demo.job_id} to finish" in page

    def test_a_second_load_queues_nothing(self, db_session, admin_user, demo):
        again = load_demo(session=db_session, admin=admin_user)
        assert not again.loaded and again.job_id is None
        assert count(db_session, Job) == 1

    def test_the_eval_split_holds_both_languages(self, db_session, demo):
        languages = Counter(
            revision.snapshot.get("language")
            for link, revision in versions.pinned(db_session, demo.version_id)
            if link.split == "eval"
        )
        assert languages["en"] >= 2 and languages["zh"] >= 2


class TestTheRule:
    @pytest.mark.parametrize(
        ("a", "b", "strict", "lenient"),
        [
            (0.0, 0.0, "both_bad", "tie"),
            (0.05, 0.0, "both_bad", "a"),  # both poor: the lenient judge still picks one
            (0.5, 0.52, "tie", "b"),  # a small gap
            (0.3, 0.3, "tie", "tie"),
            (0.9, 0.2, "a", "a"),
            (0.0, 1.0, "b", "b"),
        ],
    )
    def test_verdicts(self, a, b, strict, lenient):
        assert (verdict(STRICT, a, b), verdict(LENIENT, a, b)) == (strict, lenient)


class TestTheRoundsAfterTheJob:
    def test_two_closed_rounds_judged_in_both_languages(self, db_session, demo):
        job = db_session.get(Job, demo.job_id)
        assert pending_demo_job(db_session, demo.project_id) == job
        run_to_the_end(db_session, job)
        assert pending_demo_job(db_session, demo.project_id) is None

        # What the worker API's completion does after queue.finish.
        made = evaluation.after_job(db_session, job)

        manager = user(db_session, "reviewer2@demo.local")
        reviewer = user(db_session, "reviewer@demo.local")
        assert [r.name for r in made] == list(evaluation.ROUND_NAMES)
        assert [rounds.systems_of(r) for r in made] == [
            (System(job.id, "tuned"), System(job.id, "base")),
            (System(job.id, "tuned"), System(None, "reference")),
        ]
        for found in made:
            assert (found.status, found.mode, found.overlap, found.judges) == (
                "closed",
                "pairwise",
                2,
                "named",
            )
            assert set(rounds.named_judges(db_session, found.id)) == {manager.id, reviewer.id}
            prompts = db_session.scalars(
                select(EvalRoundPrompt).where(EvalRoundPrompt.round_id == found.id)
            ).all()
            assert len(prompts) == db_session.get(DatasetVersion, demo.version_id).eval_count
            assert {p.language for p in prompts} == {"en", "zh"}
            judged = db_session.scalars(
                select(EvalJudgment).where(EvalJudgment.round_id == found.id)
            ).all()
            assert Counter(j.judge_id for j in judged) == {
                manager.id: len(prompts),
                reviewer.id: len(prompts),
            }
            by_id = {p.id: p for p in prompts}
            for j in judged:
                prompt = by_id[j.prompt_id]
                rule = STRICT if j.judge_id == manager.id else LENIENT
                a = evaluation.token_f1(prompt.output_a, prompt.reference)
                b = evaluation.token_f1(prompt.output_b, prompt.reference)
                assert j.verdict == verdict(rule, a, b)
                assert j.comment.startswith("Demo judgment by rule")
            tally = results.round_results(db_session, found=found)
            assert tally.overall.n == 2 * len(prompts)
            assert set(tally.groups["language"]) == {"en", "zh"}

        # The tuned side got English right and Chinese wrong; the screen's sides were undone.
        verdicts = Counter(
            (prompt.language, j.verdict)
            for j, prompt in db_session.execute(
                select(EvalJudgment, EvalRoundPrompt)
                .join(EvalRoundPrompt, EvalRoundPrompt.id == EvalJudgment.prompt_id)
                .where(EvalJudgment.round_id == made[0].id)
            )
        )
        assert set(verdicts) == {("en", "a"), ("zh", "b")}

        board = leaderboard.leaderboard(db_session, project_id=demo.project_id)
        assert {e.system for e in board.entries} == {
            System(job.id, "tuned"),
            System(job.id, "base"),
            System(None, "reference"),
        }
        assert board.connected and board.rounds == 2 and board.judgments == 4 * len(prompts)
        actions = Counter(
            db_session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("eval_%"))
            ).all()
        )
        assert actions == {
            "eval_round.created": 2,
            "eval_round.closed": 2,
            "eval_judgment.created": 4 * len(prompts),
        }

        # Where both judges preferred the reference, a draft pair: the reference chosen.
        agreed = {
            prompt.id: prompt
            for prompt in prompts
            if prompt.output_a.strip() != prompt.output_b.strip()
            and {
                j.verdict
                for j in db_session.scalars(
                    select(EvalJudgment).where(EvalJudgment.prompt_id == prompt.id)
                )
            }
            == {"b"}
        }
        assert agreed, "the tiny model matched every reference"
        judged = db_session.scalars(select(Item).where(Item.origin == "judged")).all()
        assert sorted(i.provenance["round_prompt_id"] for i in judged) == sorted(agreed)
        for item in judged:
            prompt = agreed[item.provenance["round_prompt_id"]]
            assert (item.kind, item.status) == ("preference", "draft")
            assert (item.output, item.rejected) == (prompt.output_b, prompt.output_a)
            assert item.provenance["round_id"] == made[-1].id

    def test_built_once(self, db_session, admin_user, demo):
        job = db_session.get(Job, demo.job_id)
        claimed = run_to_the_end(db_session, job)
        assert len(evaluation.after_job(db_session, job)) == 2
        assert evaluation.after_job(db_session, job) == []
        with pytest.raises(Conflict):  # a job finishes once
            queue.finish(
                session=db_session,
                job_id=job.id,
                attempt=claimed.attempts,
                token_id=job.claim_token_id,
                status="succeeded",
            )
        # A retry of the demo's job stands for it, and finds the rounds built.
        retry = jobs.retry(session=db_session, job_id=job.id, actor=admin_user)
        run_to_the_end(db_session, retry)
        assert evaluation.after_job(db_session, retry) == []
        assert count(db_session, EvalRound) == 2

    def test_a_failed_demo_job_is_stood_for_by_its_retry(self, db_session, admin_user, demo):
        job = db_session.get(Job, demo.job_id)
        token = worker_token(db_session)
        claimed = queue.claim(session=db_session, worker="w", token_id=token)
        assert pending_demo_job(db_session, demo.project_id) == job  # running
        queue.finish(
            session=db_session,
            job_id=job.id,
            attempt=claimed.attempts,
            token_id=token,
            status="failed",
            error="out of memory",
        )
        assert evaluation.after_job(db_session, job) == []
        assert pending_demo_job(db_session, demo.project_id) is None
        retry = jobs.retry(session=db_session, job_id=job.id, actor=admin_user)
        assert pending_demo_job(db_session, demo.project_id) == retry
        run_to_the_end(db_session, retry)
        made = evaluation.after_job(db_session, retry)
        assert {r.a_job_id for r in made} == {retry.id} and len(made) == 2
        assert pending_demo_job(db_session, demo.project_id) is None

    def test_another_job_on_the_demo_version_builds_nothing(self, db_session, admin_user, demo):
        jobs.cancel(session=db_session, job_id=demo.job_id, actor=admin_user)
        assert pending_demo_job(db_session, demo.project_id) is None
        other = jobs.launch(
            session=db_session,
            version_id=demo.version_id,
            base_model="tiny",
            params=protocol.JobParams(max_steps=2),
            actor=admin_user,
        )
        run_to_the_end(db_session, other)
        assert evaluation.after_job(db_session, other) == []
        assert count(db_session, EvalRound) == 0

    def test_a_job_elsewhere_costs_one_query(self, db_session):
        _, admin, version = project_version(db_session, name="Not the demo")
        job, _ = run_job(db_session, version, admin)
        statements = []

        def seen(conn, cursor, statement, *args):
            statements.append(statement)

        connection = db_session.connection()
        event.listen(connection, "before_cursor_execute", seen)
        try:
            assert evaluation.after_job(db_session, job) == []
        finally:
            event.remove(connection, "before_cursor_execute", seen)
        assert len(statements) == 1 and "audit_events" in statements[0]
        assert pending_demo_job(db_session, job.project_id) is None

    def test_a_round_that_cannot_be_built_leaves_the_job_succeeded(self, db_session, demo):
        job = db_session.get(Job, demo.job_id)
        run_to_the_end(db_session, job, predict=False)  # no eval output: nothing to judge
        assert evaluation.after_job(db_session, job) == []
        assert db_session.get(Job, job.id).status == "succeeded"
        assert count(db_session, EvalRound) == 0
