"""The evaluation API on both databases: rounds created, listed and closed; blind judging in
the screen's terms; results, judgments and their CSV only for whoever sees results; the
leaderboard; and who is refused what."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from app.evaluation import judging
from app.models import AuditEvent, EvalJudgment, EvalRoundPrompt, ProjectMember, User
from tests.api_helpers import bearer, outsider, refused
from tests.eval_factories import finished_job, judge_all, make_round, reviewers

# Names a judge must never meet before the round closes: any way to tell the systems apart.
HIDDEN_KEYS = ("system", "job", "side", "swap", "verdict", "tuned", "base", "reference")


def _blind(body, job) -> None:
    """No key that could name a system (``a``, ``b`` and ``seed`` only as null), and no
    value naming one."""
    if isinstance(body, list):
        for value in body:
            _blind(value, job)
    elif isinstance(body, dict):
        for key, value in body.items():
            assert not any(word in key for word in HIDDEN_KEYS), key
            assert not key.endswith(("_a", "_b")), key
            assert key not in ("a", "b", "seed") or value is None, key
            _blind(value, job)
    elif isinstance(body, str):
        assert body not in ("tuned", "base", "reference"), body
        assert f"{job.id}:tuned" not in body and f"{job.id}:base" not in body, body


@pytest.fixture
def done(db_session):
    """A finished job's project, its admin (who manages it), two reviewers and an annotator
    (users are slow to make: their passwords are hashed as in production)."""
    project, admin, job = finished_job(db_session, items=12)
    role = dict(
        db_session.execute(
            select(ProjectMember.role, ProjectMember.user_id).where(
                ProjectMember.project_id == project.id
            )
        ).all()
    )
    reviewer, annotator = (db_session.get(User, role[r]) for r in ("reviewer", "annotator"))
    judges = [reviewer, *reviewers(db_session, project, 1)]
    return project, admin, job, admin, judges, annotator


class TestRounds:
    def test_a_manager_counts_creates_and_lists(self, client, db_session, done):
        project, admin, job, manager, (judge, _), annotator = done
        url = f"/api/v1/projects/{project.id}/rounds"
        body = {"name": "Tuned vs base", "a": f"{job.id}:tuned", "b": f"{job.id}:base"}
        counted = client.post(f"{url}?dry_run=true", json=body, headers=bearer(db_session, manager))
        assert counted.status_code == 200, counted.text
        prompts = counted.json()["prompts"]
        assert prompts >= 8 and not client.get(url, headers=bearer(db_session, manager)).json()
        created = client.post(url, json=body, headers=bearer(db_session, manager))
        assert created.status_code == 201, created.text
        out = created.json()
        assert (out["prompts"], out["judgments"], out["progress"], out["status"]) == (
            prompts, 0, 0.0, "open",
        )  # fmt: skip
        assert out["a"] == {"key": f"{job.id}:tuned", "job_id": job.id, "side": "tuned"}
        assert out["sees_results"] and out["version"] == 1 and out["judges"] == "reviewers"
        event = db_session.scalar(
            select(AuditEvent).where(AuditEvent.action == "eval_round.created")
        )
        assert event.entity_id == str(out["id"]) and event.actor_id == manager.id
        # A judge of the running round sees it without its systems.
        (listed,) = client.get(url, headers=bearer(db_session, judge)).json()
        assert listed["id"] == out["id"] and listed["a"] is listed["b"] is listed["seed"] is None
        # Nor its name, which a manager may have written with the systems in it.
        assert not listed["sees_results"] and listed["name"] == f"Round {out['id']}"
        # An annotator sees only the rounds that name them.
        assert client.get(url, headers=bearer(db_session, annotator)).json() == []
        named = client.post(
            url,
            json={**body, "name": "Named", "judges": "named", "judge_ids": [annotator.id]},
            headers=bearer(db_session, manager),
        )
        assert named.status_code == 201, named.text
        seen = client.get(url, headers=bearer(db_session, annotator)).json()
        assert [r["id"] for r in seen] == [named.json()["id"]]
        assert seen[0]["judge_ids"] == [annotator.id] and seen[0]["name"].startswith("Round ")

    def test_refusals(self, client, db_session, done):
        project, admin, job, manager, (judge, _), annotator = done
        url = f"/api/v1/projects/{project.id}/rounds"
        body = {"name": "R", "a": f"{job.id}:tuned", "b": "reference"}
        refused(client.post(url, json=body, headers=bearer(db_session, judge)), 403, "forbidden")
        stranger = outsider(db_session)
        refused(client.get(url, headers=stranger), 404, "not_found")
        same = {**body, "b": f"{job.id}:tuned"}
        bad = client.post(url, json=same, headers=bearer(db_session, manager))
        refused(bad, 422, "invalid")
        huge = {**body, "judges": "named", "judge_ids": [2**40]}
        assert client.post(url, json=huge, headers=bearer(db_session, manager)).status_code == 422
        found = make_round(db_session, project, admin, job)
        for path in ("", "/next", "/judgments"):
            round_url = f"/api/v1/rounds/{found.id}{path}"
            refused(client.get(round_url, headers=bearer(db_session, annotator)), 403, "forbidden")
            refused(client.get(round_url, headers=stranger), 404, "not_found")
        board = f"/api/v1/projects/{project.id}/leaderboard"
        refused(client.get(board, headers=bearer(db_session, annotator)), 403, "forbidden")


class TestJudging:
    def test_the_next_prompt_and_the_judges_own_judgments_are_blind(self, client, db_session, done):
        project, admin, job, manager, (judge, _), _ = done
        found = make_round(db_session, project, admin, job)
        headers = bearer(db_session, judge)
        base = f"/api/v1/rounds/{found.id}"
        nxt = client.get(f"{base}/next", headers=headers)
        assert nxt.status_code == 200, nxt.text
        _blind(nxt.json(), job)
        shown = nxt.json()
        prompt = db_session.get(EvalRoundPrompt, shown["prompt_id"])
        seat = judging.seat_of(db_session, found=found, judge=judge)
        swapped = seat.walk.swapped[prompt.id]
        assert (shown["first"], shown["second"]) == (
            (prompt.output_b, prompt.output_a) if swapped else (prompt.output_a, prompt.output_b)
        )
        assert shown["messages"] == prompt.messages and shown["mode"] == "pairwise"
        assert shown["progress"] == {"judged": 0, "prompts": len(seat.walk.order)}
        # The judge picks the first output: the saved verdict is whichever system was there.
        made = client.post(
            f"{base}/judgments",
            json={"prompt_id": prompt.id, "choice": "first", "reasons": ["wrong"], "comment": "ok"},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        _blind(made.json(), job)
        assert made.json()["choice"] == "first" and made.json()["version"] == 1
        stored = db_session.scalar(select(EvalJudgment).where(EvalJudgment.judge_id == judge.id))
        assert stored.verdict == ("b" if swapped else "a")
        changed = client.post(
            f"{base}/judgments",
            json={"prompt_id": prompt.id, "choice": "tie", "version": 1},
            headers=headers,
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["choice"], changed.json()["version"]) == ("tie", 2)
        stale = {"prompt_id": prompt.id, "choice": "second", "version": 1}
        refused(client.post(f"{base}/judgments", json=stale, headers=headers), 409, "conflict")
        mine = client.get(f"{base}/judgments", headers=headers)
        _blind(mine.json(), job)
        assert mine.json()["all"] is None
        assert [(j["prompt_id"], j["choice"]) for j in mine.json()["mine"]] == [(prompt.id, "tie")]
        shown_round = client.get(base, headers=headers)
        assert shown_round.json()["mine"] == 1 and shown_round.json()["per_judge"] is None
        _blind(shown_round.json(), job)
        # Nothing of the results while the round runs.
        refused(client.get(f"{base}/results", headers=headers), 403, "forbidden")
        refused(client.get(f"{base}/judgments.csv", headers=headers), 403, "forbidden")
        other = {"prompt_id": seat.walk.order[-1], "choice": "first"}
        if other["prompt_id"] != prompt.id:  # not theirs yet: as good as missing
            refused(client.post(f"{base}/judgments", json=other, headers=headers), 404, "not_found")

    def test_a_rating_round_is_judged_and_summed_up(self, client, db_session, done):
        project, admin, job, manager, (judge, _), _ = done
        found = make_round(db_session, project, admin, job, mode="rating", limit=3, seed=1)
        base = f"/api/v1/rounds/{found.id}"
        while nxt := client.get(f"{base}/next", headers=bearer(db_session, judge)).json():
            rating = {"rating_first": 5, "rating_second": 2, "correct_first": True}
            made = client.post(
                f"{base}/judgments",
                json={"prompt_id": nxt["prompt_id"], **rating},
                headers=bearer(db_session, judge),
            )
            assert made.status_code == 201, made.text
            assert made.json()["choice"] is None and made.json()["rating_first"] == 5
        results = client.get(f"{base}/results", headers=bearer(db_session, manager)).json()
        ratings = results["ratings"]
        assert ratings["a"]["n"] == ratings["b"]["n"] == 3
        assert ratings["a"]["mean"] + ratings["b"]["mean"] == 7


class TestResults:
    @pytest.fixture
    def judged(self, db_session, done):
        """A round both reviewers judged fully: system A (tuned) wins the English prompts,
        the Chinese ones are ties, and on position 1 the judges disagree."""
        project, admin, job, manager, judges, _ = done
        found = make_round(db_session, project, admin, job, overlap=2)

        def verdict(judge, position):
            if position == 1:
                return "a" if judge is judges[0] else "b"
            prompt = db_session.scalar(
                select(EvalRoundPrompt).where(
                    EvalRoundPrompt.round_id == found.id, EvalRoundPrompt.position == position
                )
            )
            return "a" if prompt.language == "en" else "tie"

        judge_all(db_session, found, judges, verdict)
        return found

    def test_a_manager_sees_live_results_judgments_and_the_csv(
        self, client, db_session, done, judged
    ):
        project, admin, job, manager, judges, _ = done
        headers = bearer(db_session, manager)
        base = f"/api/v1/rounds/{judged.id}"
        response = client.get(f"{base}/results", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        overall = body["overall"]
        assert overall["n"] == overall["wins"] + overall["ties"] + overall["losses"] > 0
        assert overall["losses"] == 1 and 0 < overall["interval"][0] < overall["win_rate"]
        assert not body["final"] and body["a"]["key"] == f"{job.id}:tuned"
        languages = {g["group"]: g for g in body["per_language"]}
        assert set(languages) == {"en", "zh"} and languages["zh"]["wins"] == 0
        assert {g["group"] for g in body["per_domain"]} == {"food", "travel"}
        assert [d["position"] for d in body["disagreements"]] == [1]
        assert body["disagreements"][0]["verdicts"] == ["a", "b"]
        assert body["alpha"]["units"] == overall["n"] // 2
        assert "Wilson score interval, ties count as half a win; two-sided exact sign test " \
            "over wins and losses" in body["method"]  # fmt: skip
        every = client.get(f"{base}/judgments", headers=headers).json()
        assert every["mine"] == [] and len(every["all"]) == overall["n"]
        emails = {j["judge"] for j in every["all"]}
        assert emails == {j.email for j in judges}
        assert {j["verdict"] for j in every["all"]} == {"a", "b", "tie"}
        detail = client.get(base, headers=headers).json()
        assert sorted(c["judgments"] for c in detail["per_judge"]) == [
            overall["n"] // 2, overall["n"] // 2,
        ]  # fmt: skip
        exported = client.get(f"{base}/judgments.csv", headers=headers)
        assert exported.status_code == 200 and exported.headers["content-type"].startswith(
            "text/csv"
        )
        assert "attachment" in exported.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert len(rows) == overall["n"]
        assert {r["winner"] for r in rows} == {f"{job.id}:tuned", f"{job.id}:base", "tie"}
        # A manager who judged waits for the close, like every judge.
        other = make_round(db_session, project, admin, job, limit=1)
        (prompt_id,) = judging.seat_of(db_session, found=other, judge=manager).walk.order
        judging.submit(
            session=db_session,
            found=other,
            judge=manager,
            data=judging.JudgmentInput(prompt_id=prompt_id, choice="tie"),
        )
        url = f"/api/v1/rounds/{other.id}/results"
        refused(client.get(url, headers=headers), 403, "forbidden")

    def test_closing_reveals_and_feeds_the_leaderboard(self, client, db_session, done, judged):
        project, admin, job, manager, (judge, _), _ = done
        base = f"/api/v1/rounds/{judged.id}"
        stale = client.post(
            f"{base}/close", json={"version": 99}, headers=bearer(db_session, manager)
        )
        refused(stale, 409, "conflict")
        refused(client.post(f"{base}/close", json={}, headers=bearer(db_session, judge)), 403,
                "forbidden")  # fmt: skip
        closed = client.post(
            f"{base}/close", json={"version": judged.version}, headers=bearer(db_session, manager)
        )
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closed" and closed.json()["closed_at"]
        again = client.post(f"{base}/close", json={}, headers=bearer(db_session, manager))
        refused(again, 409, "conflict")
        # The judge now sees the systems and the final results; judging has ended.
        headers = bearer(db_session, judge)
        assert client.get(base, headers=headers).json()["a"]["side"] == "tuned"
        final = client.get(f"{base}/results", headers=headers)
        assert final.status_code == 200 and final.json()["final"]
        assert client.get(f"{base}/next", headers=headers).json() is None
        prompt_id = client.get(f"{base}/judgments", headers=headers).json()["mine"][0]["prompt_id"]
        late = {"prompt_id": prompt_id, "choice": "tie"}
        refused(client.post(f"{base}/judgments", json=late, headers=headers), 409, "conflict")
        board = client.get(f"/api/v1/projects/{project.id}/leaderboard", headers=headers)
        assert board.status_code == 200, board.text
        body = board.json()
        assert (body["rounds"], body["connected"], body["components"]) == (1, True, 1)
        top, second = body["entries"]
        assert (top["system"], top["rank"], top["side"]) == (f"{job.id}:tuned", 1, "tuned")
        assert top["base_model"] == job.base_model and second["system"] == f"{job.id}:base"
        assert top["rating"] > second["rating"] and top["judgments"] == body["judgments"]
        assert top["interval"][0] <= top["rating"] <= top["interval"][1]
