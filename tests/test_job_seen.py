"""A job's seen sample (its outputs on a few of the prompts it was tuned on, reported as
predictions of split 'train') and its starting model's eval loss: stored as the worker reports
them, shown in a section of their own on the results page and in the API, and never part of
the eval figures, the job comparison, an evaluation round or an improved output."""

from __future__ import annotations

import math
import re

import pytest
from sqlalchemy import select

from app.core import protocol
from app.core.kinds import ItemContent
from app.datasets import versions
from app.errors import NotFound
from app.jobs import queue, results
from app.models import DatasetVersion, EvalPrediction, EvalRoundPrompt
from app.pairs import improve, sources
from tests.api_helpers import member
from tests.eval_factories import make_round
from tests.factories import join, make_user
from tests.helpers import login
from tests.job_factories import project_version, run_job, scores

SEEN_BASE = "A base output on a training prompt."
METRICS = {
    "eval_loss": 1.7,
    "base_eval_loss": 2.3,
    "tuned_f1": 0.8,
    "tuned_rouge_l": 0.75,
    "steps": 6,
    "seen_base_f1": 0.1,
    "seen_tuned_f1": 0.95,
    "seen_base_exact_match": 0.0,
    "seen_tuned_exact_match": 1.0,
    "seen_base_rouge_l": 0.05,
    "seen_tuned_rouge_l": 0.9,
    "seen_base_loss": 2.4,
    "seen_tuned_loss": 0.2,
}


def run_with_seen(session, version, admin, seen: int = 3):
    """A job reported as a worker does: its eval predictions (``run_job``'s: tuned right on
    tasks, wrong on constraints), then ``seen`` training items whose tuned output is the
    reference (learned), then its completion with the starting model's and the seen figures.
    Returns (job, eval item ids, seen item ids)."""
    job, train = run_job(session, version, admin, finish=False)
    pinned = {link.item_id: rev for link, rev in versions.pinned(session, version.id, "train")}
    chosen = train[:seen]
    predictions = []
    for item_id in chosen:
        content = ItemContent.from_row(pinned[item_id].snapshot)
        refs = [c.model_dump() for c in content.constraints]
        predictions.append(
            protocol.Prediction(
                item_id=item_id,
                kind=content.kind,
                reference=content.output,
                base_output=SEEN_BASE,
                tuned_output=content.output,
                scores=scores(refs, content.output, SEEN_BASE, content.output),
                split="train",
            )
        )
    token, attempt = job.claim_token_id, job.attempts
    batch = protocol.PredictionBatch(attempt=attempt, predictions=predictions)
    queue.record_predictions(session=session, job_id=job.id, batch=batch, token_id=token)
    queue.finish(
        session=session,
        job_id=job.id,
        attempt=attempt,
        token_id=token,
        status="succeeded",
        metrics=METRICS,
    )
    session.flush()
    held_out = [link.item_id for link, _ in versions.pinned(session, version.id, "eval")]
    return job, held_out, chosen


@pytest.fixture
def ran(db_session):
    project, admin, version = project_version(db_session, name="Seen prompts")
    job, held_out, seen = run_with_seen(db_session, version, admin)
    return project, admin, job, held_out, seen


def _as_reviewer(client, db_session, project):
    user = make_user(db_session, role="reviewer")
    join(db_session, project, user)
    login(client, user.email)


class TestStored:
    def test_seen_predictions_keep_their_split(self, db_session, ran):
        _project, _admin, job, held_out, seen = ran
        rows = db_session.execute(
            select(EvalPrediction.item_id, EvalPrediction.split).where(
                EvalPrediction.job_id == job.id
            )
        ).all()
        assert sorted(i for i, split in rows if split == "train") == sorted(seen)
        assert sorted(i for i, split in rows if split == "eval") == sorted(held_out)
        assert not set(seen) & set(held_out)

    def test_a_prediction_without_a_split_is_an_eval_one(self):
        p = protocol.Prediction(
            item_id=1, kind="task", reference="a", base_output="b", tuned_output="a", scores={}
        )
        assert p.split == "eval" and p.model_dump()["split"] == "eval"
        with pytest.raises(ValueError):
            protocol.Prediction(**{**p.model_dump(), "split": "test"})

    def test_the_eval_figures_leave_the_seen_prompts_out(self, db_session, ran):
        _project, _admin, job, held_out, seen = ran
        assert [p.item_id for p in results.predictions_of(db_session, job.id)] == held_out
        everything = list(
            db_session.scalars(select(EvalPrediction).where(EvalPrediction.job_id == job.id))
        )
        held = [p for p in everything if p.split == "eval"]
        assert results.table(results.predictions_of(db_session, job.id)) == results.table(held)
        # The seen outputs are the references: mixed in, they would change the eval table.
        assert results.table(held) != results.table(everything)
        section = results.seen_section(db_session, job)
        assert [p.item_id for p in section.predictions] == sorted(seen)
        tuned_em = {r.metric: r for r in section.table}["exact_match"]
        assert (tuned_em.base, tuned_em.tuned) == (0.0, 1.0)


class TestResultsPage:
    def test_base_and_tuned_eval_loss_and_perplexity(self, client, db_session, ran):
        project, _admin, job, _held_out, _seen = ran
        _as_reviewer(client, db_session, project)
        page = client.get(f"/jobs/{job.id}/results").text
        assert re.search(r'id="base-eval-loss">2\.3000<', page)
        assert re.search(r'id="eval-loss">1\.7000<', page)
        assert re.search(rf'id="base-perplexity">{math.exp(2.3):.2f}<', page)
        assert re.search(rf'id="perplexity">{math.exp(1.7):.2f}<', page)
        losses = page.split('id="losses-eval"')[1].split("</table>")[0]
        assert re.search(r'data-metric="eval_loss">.*?class="num up">-0\.6000<', losses, re.S)

    def test_seen_prompts_in_a_section_of_their_own(self, client, db_session, ran):
        project, _admin, job, held_out, seen = ran
        _as_reviewer(client, db_session, project)
        page = client.get(f"/jobs/{job.id}/results").text
        assert "Prompts the model was tuned on: they show what it learned" in page
        summary = page.split('id="seen-summary"')[1].split("</section>")[0]
        assert "3 training prompts" in summary
        em = re.search(r'data-metric="exact_match">(.*?)</tr>', summary, re.S).group(1)
        assert re.findall(r'<td class="num[^"]*">([^<]*)</td>', em)[:2] == ["0.0", "100.0"]
        assert re.search(r'id="seen-loss">0\.2000<', summary)
        assert re.search(r'id="seen-base-loss">2\.4000<', summary)
        section = page.split('id="seen-items"')[1]
        assert [int(i) for i in re.findall(r'data-seen-item="(\d+)"', section)] == sorted(seen)
        # The eval items' table, its filters and send-back hold the eval items only.
        eval_part = page.split('id="eval-items"')[1].split('id="seen-items"')[0]
        assert sorted(int(i) for i in re.findall(r'<tr data-item="(\d+)"', eval_part)) == sorted(
            held_out
        )
        assert SEEN_BASE not in eval_part and SEEN_BASE in section
        assert f"({len(held_out)} eval items)" in page

    def test_a_job_without_a_seen_sample_shows_no_section(self, client, db_session):
        project, admin, version = project_version(db_session, name="Older job")
        job, _ = run_job(db_session, version, admin)
        _as_reviewer(client, db_session, project)
        page = client.get(f"/jobs/{job.id}/results").text
        assert 'id="seen-summary"' not in page and 'id="seen-items"' not in page
        assert 'id="base-eval-loss">—<' in page and re.search(r'id="eval-loss">1\.7000<', page)

    def test_compare_reads_the_eval_figures(self, client, db_session, ran):
        project, admin, job, _held_out, _seen = ran
        other, _ = run_job(
            db_session, db_session.get(DatasetVersion, job.dataset_version_id), admin
        )
        _as_reviewer(client, db_session, project)
        page = client.get("/jobs/compare", params={"ids": [job.id, other.id]}).text
        row = page.split('<tr data-metric="exact_match">')[1].split("</tr>")[0]
        held = {r.metric: r for r in results.table(results.predictions_of(db_session, job.id))}
        everything = list(
            db_session.scalars(select(EvalPrediction).where(EvalPrediction.job_id == job.id))
        )
        mixed = {r.metric: r for r in results.table(everything)}
        cells = re.findall(r'<td class="num">([^<]*)</td>', row)
        assert cells[0] == f"{100 * held['exact_match'].tuned:.1f}"
        assert cells[0] != f"{100 * mixed['exact_match'].tuned:.1f}"


class TestApi:
    def test_results_expose_the_seen_sample_beside_the_eval_items(self, client, db_session, ran):
        project, _admin, job, held_out, seen = ran
        body = client.get(
            f"/api/v1/jobs/{job.id}/results", headers=member(db_session, project, "reviewer")
        ).json()
        assert body["eval_items"] == len(held_out)
        assert body["headline"]["base_eval_loss"] == 2.3
        assert body["headline"]["base_perplexity"] == pytest.approx(math.exp(2.3))
        assert sum(body["group_items"]["kind"].values()) == len(held_out)
        assert body["seen"]["items"] == len(seen)
        assert (body["seen"]["base_loss"], body["seen"]["tuned_loss"]) == (2.4, 0.2)
        assert body["seen"]["tuned_perplexity"] == pytest.approx(math.exp(0.2))
        assert body["seen"]["means"]["seen_tuned_f1"] == 0.95
        assert {r["metric"]: r["tuned"] for r in body["seen"]["overall"]}["exact_match"] == 1.0
        overall = {r["metric"]: r["tuned"] for r in body["overall"]}
        assert overall["exact_match"] < 1.0  # the constraint items' tuned outputs break a rule

    def test_predictions_by_split(self, client, db_session, ran):
        project, _admin, job, held_out, seen = ran
        headers = member(db_session, project, "reviewer")
        url = f"/api/v1/jobs/{job.id}/predictions"
        default = client.get(url, params={"limit": 500}, headers=headers).json()["predictions"]
        assert sorted(p["item_id"] for p in default) == sorted(held_out)
        assert {p["split"] for p in default} == {"eval"}
        trained = client.get(url, params={"split": "train"}, headers=headers).json()
        assert sorted(p["item_id"] for p in trained["predictions"]) == sorted(seen)
        assert {p["split"] for p in trained["predictions"]} == {"train"}
        assert all(p["base_output"] == SEEN_BASE for p in trained["predictions"])
        bad = client.get(url, params={"split": "test"}, headers=headers)
        assert bad.status_code == 422


class TestHeldOutOnly:
    def test_a_round_from_the_job_never_includes_seen_prompts(self, db_session, ran):
        project, admin, job, held_out, seen = ran
        found = make_round(db_session, project, admin, job)
        prompts = db_session.scalars(
            select(EvalRoundPrompt.item_id).where(EvalRoundPrompt.round_id == found.id)
        ).all()
        assert sorted(prompts) == sorted(held_out)
        assert not set(prompts) & set(seen)

    def test_a_seen_output_cannot_be_improved(self, db_session, ran):
        _project, _admin, job, held_out, seen = ran
        with pytest.raises(NotFound):
            sources.job_source(db_session, job=job, item_id=seen[0], side="tuned")
        assert sources.job_source(db_session, job=job, item_id=held_out[0], side="tuned")
        # The improve pages' "next" walks the eval items in item order, past the seen ones.
        walk = [min(held_out)]
        while (
            after := improve.next_job_item(db_session, job_id=job.id, item_id=walk[-1])
        ) is not None:
            walk.append(after)
        assert walk == sorted(held_out)


def test_the_demos_rounds_judge_its_eval_prompts_only(db_session, admin_user):
    """The demo's job reports its seen sample too; the rounds built from it hold the eval
    prompts of Demo v1 and none of the training prompts."""
    from app.demo import evaluation
    from app.demo.loader import load_demo
    from app.models import DatasetVersion, Job
    from tests.job_factories import worker_token

    demo = load_demo(session=db_session, admin=admin_user)
    job = db_session.get(Job, demo.job_id)
    token = worker_token(db_session)
    claimed = queue.claim(session=db_session, worker="test-host:1", token_id=token)
    assert claimed is not None and claimed.id == job.id
    predictions = []
    for link, revision in versions.pinned(db_session, demo.version_id):
        content = ItemContent.from_row(revision.snapshot)
        if link.split == "train" and content.kind == "preference":
            continue  # SFT's seen sample holds the items it learns from
        tuned = content.output if link.split == "train" else "no idea"
        predictions.append(
            protocol.Prediction(
                item_id=link.item_id,
                kind=content.kind,
                reference=content.output,
                base_output="no idea",
                tuned_output=tuned,
                scores=scores([], content.output, "no idea", tuned),
                split=link.split,
            )
        )
    seen = {p.item_id for p in predictions if p.split == "train"}
    held_out = {p.item_id for p in predictions if p.split == "eval"}
    assert seen and held_out
    queue.record_predictions(
        session=db_session,
        job_id=job.id,
        batch=protocol.PredictionBatch(attempt=claimed.attempts, predictions=predictions),
        token_id=token,
    )
    queue.finish(
        session=db_session,
        job_id=job.id,
        attempt=claimed.attempts,
        token_id=token,
        status="succeeded",
        metrics={"steps": 400},
    )
    made = evaluation.after_job(db_session, job)
    assert [r.name for r in made] == list(evaluation.ROUND_NAMES)
    version = db_session.get(DatasetVersion, demo.version_id)
    for found in made:
        prompts = set(
            db_session.scalars(
                select(EvalRoundPrompt.item_id).where(EvalRoundPrompt.round_id == found.id)
            )
        )
        assert prompts == held_out and len(prompts) == version.eval_count
        assert not prompts & seen
