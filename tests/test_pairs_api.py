"""The pairs API on both databases: counting and making pairs of a closed round's agreed
verdicts, improving a job's or a closed round's output, and who is refused what."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import EvalPrediction, EvalRoundPrompt, Item
from tests.api_helpers import bearer, member, outsider, refused
from tests.round_pair_factories import judged_round

BETTER = "A better answer, written by a person."


def _answer(index: int, position: int) -> tuple[str, list[str]]:
    if position <= 2:
        return "b", ["wrong"] if index == 0 else []
    return ("a", []) if index == 0 else ("both_bad", [])


@pytest.fixture
def judged(db_session):
    return judged_round(db_session, _answer, judges=2, overlap=2, items=6)


def _prompt(db_session, found, position: int = 1) -> EvalRoundPrompt:
    return db_session.scalar(
        select(EvalRoundPrompt).where(
            EvalRoundPrompt.round_id == found.id, EvalRoundPrompt.position == position
        )
    )


class TestFromRound:
    def test_a_manager_counts_then_makes_the_pairs_once(
        self, client, db_session, judged, run_tasks
    ):
        project, admin, job, found, _ = judged
        headers = member(db_session, project, "manager")
        url = f"/api/v1/rounds/{found.id}/pairs"
        counted = client.get(url, headers=headers)
        assert counted.status_code == 200, counted.text
        assert counted.json() == {
            "rule": "unanimous",
            "min_judgments": 2,
            "prompts": 5,
            "pairs": 2,
            "no_winner": 3,
            "identical": 0,
            "already": 0,
        }
        made = client.post(url, json={}, headers=headers)
        assert made.status_code == 202, made.text
        queued = made.json()
        assert (queued["kind"], queued["state"]) == ("pairs.from_round", "queued")
        assert run_tasks() == [queued["id"]]
        task = client.get(f"/api/v1/tasks/{queued['id']}", headers=headers).json()
        assert (task["state"], task["phase"], task["done"], task["total"]) == (
            "done",
            "done",
            2,
            2,
        )
        body = task["result"]
        assert (body["pairs"], body["no_winner"], body["already"], body["unusable"]) == (2, 3, 0, 0)
        pairs = [client.get(f"/api/v1/items/{i}", headers=headers).json() for i in body["item_ids"]]
        assert [p["provenance"]["votes"] for p in pairs] == ["2 of 2", "2 of 2"]
        assert {p["origin"] for p in pairs} == {"judged"}
        assert {p["kind"] for p in pairs} == {"preference"}
        assert pairs[0]["provenance"]["reasons"] == ["wrong"]
        assert pairs[0]["rejected"] == _prompt(db_session, found).output_a
        again_id = client.post(url, json={"rule": "unanimous"}, headers=headers).json()["id"]
        assert run_tasks() == [again_id]
        again = client.get(f"/api/v1/tasks/{again_id}", headers=headers).json()["result"]
        assert (again["pairs"], again["already"], again["item_ids"]) == (0, 2, [])

    def test_the_rule_and_its_minimum_are_checked(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        headers = bearer(db_session, admin)
        url = f"/api/v1/rounds/{found.id}/pairs"
        refused(client.post(url, json={"rule": "most"}, headers=headers), 422, "validation_error")
        refused(
            client.post(url, json={"min_judgments": 0}, headers=headers), 422, "validation_error"
        )
        loose = client.get(url, params={"rule": "majority", "min_judgments": 1}, headers=headers)
        assert loose.json()["pairs"] == 2 and loose.json()["min_judgments"] == 1

    def test_an_open_round_answers_409(self, client, db_session):
        project, admin, job, found, _ = judged_round(
            db_session, _answer, judges=1, overlap=2, items=6, close=False
        )
        headers = bearer(db_session, admin)
        answer = client.post(f"/api/v1/rounds/{found.id}/pairs", json={}, headers=headers)
        refused(answer, 409, "conflict")
        assert "Close the round first" in answer.json()["detail"]
        refused(client.get(f"/api/v1/rounds/{found.id}/pairs", headers=headers), 409, "conflict")

    def test_only_managers(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        url = f"/api/v1/rounds/{found.id}/pairs"
        for role in ("annotator", "reviewer"):
            headers = member(db_session, project, role)
            refused(client.post(url, json={}, headers=headers), 403, "forbidden")
            refused(client.get(url, headers=headers), 403, "forbidden")

    def test_a_non_member_learns_nothing(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        refused(
            client.post(f"/api/v1/rounds/{found.id}/pairs", json={}, headers=outsider(db_session)),
            404,
            "not_found",
        )


class TestImprove:
    def test_a_reviewer_improves_a_jobs_output(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        prediction = db_session.scalar(
            select(EvalPrediction).where(EvalPrediction.job_id == job.id).limit(1)
        )
        url = f"/api/v1/jobs/{job.id}/predictions/{prediction.item_id}/improve"
        headers = member(db_session, project, "reviewer")
        made = client.post(url, json={"side": "base", "chosen": BETTER}, headers=headers)
        assert made.status_code == 201, made.text
        body = made.json()
        assert (body["kind"], body["status"], body["origin"]) == ("preference", "draft", "improved")
        assert (body["output"], body["rejected"]) == (BETTER, prediction.base_output)
        assert body["provenance"] == {
            "job_id": job.id,
            "item_id": prediction.item_id,
            "system": f"{job.id}:base",
        }

    @pytest.mark.parametrize(
        ("chosen", "message"),
        [("", "Write a better response."), (None, "Same as the model's output.")],
    )
    def test_an_empty_or_unchanged_response_answers_422(
        self, client, db_session, judged, chosen, message
    ):
        project, admin, job, found, _ = judged
        prediction = db_session.scalar(
            select(EvalPrediction).where(EvalPrediction.job_id == job.id).limit(1)
        )
        url = f"/api/v1/jobs/{job.id}/predictions/{prediction.item_id}/improve"
        text = prediction.tuned_output if chosen is None else chosen
        answer = client.post(url, json={"chosen": text}, headers=bearer(db_session, admin))
        refused(answer, 422, "invalid")
        assert answer.json()["detail"] == [{"field": "chosen", "message": message}]

    def test_annotators_do_not_see_job_outputs(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        prediction = db_session.scalar(
            select(EvalPrediction).where(EvalPrediction.job_id == job.id).limit(1)
        )
        url = f"/api/v1/jobs/{job.id}/predictions/{prediction.item_id}/improve"
        answer = client.post(
            url, json={"chosen": BETTER}, headers=member(db_session, project, "annotator")
        )
        refused(answer, 403, "forbidden")

    def test_a_judge_improves_a_closed_rounds_output(self, client, db_session, judged):
        project, admin, job, found, (judge, _) = judged
        prompt = _prompt(db_session, found, 3)
        url = f"/api/v1/rounds/{found.id}/prompts/{prompt.id}/improve"
        made = client.post(
            url, json={"side": "a", "chosen": BETTER}, headers=bearer(db_session, judge)
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert (body["output"], body["rejected"]) == (BETTER, prompt.output_a)
        assert body["provenance"]["round_prompt_id"] == prompt.id
        assert body["provenance"]["system"] == f"{job.id}:tuned"
        assert db_session.get(Item, body["id"]).author_id == judge.id

    def test_an_open_round_answers_409_and_its_judges_403(self, client, db_session):
        project, admin, job, found, (judge,) = judged_round(
            db_session, _answer, judges=1, overlap=2, items=6, close=False
        )
        prompt = _prompt(db_session, found)
        url = f"/api/v1/rounds/{found.id}/prompts/{prompt.id}/improve"
        body = {"side": "a", "chosen": BETTER}
        refused(client.post(url, json=body, headers=bearer(db_session, admin)), 409, "conflict")
        refused(client.post(url, json=body, headers=bearer(db_session, judge)), 403, "forbidden")

    def test_a_prompt_of_another_round_is_not_found(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        url = f"/api/v1/rounds/{found.id}/prompts/999999/improve"
        answer = client.post(
            url, json={"side": "a", "chosen": BETTER}, headers=bearer(db_session, admin)
        )
        refused(answer, 404, "not_found")
