"""Evaluation pages over HTTP: the rounds list for each role, the new-round form with its live
count and inline errors, a round's page (blind for judges while it runs, live for managers who
do not judge, final for everyone after closing), closing, the CSV and the leaderboard."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.evaluation import judging, rounds
from app.evaluation.judging import JudgmentInput
from app.models import DatasetVersion, EvalRound, EvalRoundPrompt
from tests.eval_factories import finished_job, judge_all, make_round, reviewers
from tests.factories import join, make_user
from tests.helpers import login
from tests.job_factories import run_job

HX = {"HX-Request": "true"}


@pytest.fixture
def done(db_session):
    return finished_job(db_session)


def _sign_in(client, user) -> str:
    client.cookies.clear()  # sign out whoever was signed in
    return login(client, user.email)


def _member(client, db_session, project, role: str):
    """A new member of ``project`` in ``role``, signed in; returns (user, CSRF token)."""
    user = make_user(db_session, role="annotator" if role == "annotator" else "reviewer")
    join(db_session, project, user, role=role)
    return user, _sign_in(client, user)


def _prompts(db_session, found) -> list[EvalRoundPrompt]:
    return list(
        db_session.scalars(
            select(EvalRoundPrompt)
            .where(EvalRoundPrompt.round_id == found.id)
            .order_by(EvalRoundPrompt.position)
        )
    )


def revealed(html: str, job) -> list[str]:
    """What in a page would tell a reader which output came from which system."""
    found = [
        s
        for s in (f"{job.id}:tuned", f"{job.id}:base", "data-system", f"Job {job.id}")
        if s in html
    ]
    found += re.findall(r"\b(?:tuned|base|[Rr]eference outputs)\b", html)
    found += [s for s in ('id="round-results"', "preferred on", "A better") if s in html]
    return found


class TestList:
    def test_each_role_sees_its_rounds(self, client, db_session, done):
        project, admin, job = done
        annotator = make_user(db_session)
        join(db_session, project, annotator)
        everyone = make_round(db_session, project, admin, job, name="Open to reviewers")
        named = make_round(
            db_session, project, admin, job, name="Named", judges="named", judge_ids=[annotator.id]
        )
        url = f"/projects/{project.id}/evaluation"

        _member(client, db_session, project, "manager")
        page = client.get(url)
        assert page.status_code == 200
        assert (
            f'data-round="{everyone.id}"' in page.text and f'data-round="{named.id}"' in page.text
        )
        assert 'id="new-round"' in page.text and 'id="leaderboard-link"' in page.text
        assert f'data-system="{job.id}:tuned"' in page.text  # a manager who is not judging

        _member(client, db_session, project, "reviewer")
        page = client.get(url)
        assert (
            f'data-round="{everyone.id}"' in page.text and f'data-round="{named.id}"' in page.text
        )
        assert 'id="new-round"' not in page.text and 'id="leaderboard-link"' in page.text
        assert revealed(page.text, job) == []
        rows = {m[0]: m[1] for m in re.findall(r'data-round="(\d+)"(.*?)</tr>', page.text, re.S)}
        assert "/judge" in rows[str(everyone.id)] and "/judge" not in rows[str(named.id)]
        assert client.get(f"{url}/new").status_code == 403  # the form is for managers

        _sign_in(client, annotator)
        page = client.get(url)
        assert f'data-round="{named.id}"' in page.text
        assert f'data-round="{everyone.id}"' not in page.text
        assert 'id="leaderboard-link"' not in page.text and revealed(page.text, job) == []
        assert client.get(f"/rounds/{everyone.id}").status_code == 403
        assert client.get(f"/rounds/{named.id}").status_code == 200
        assert client.get(f"/projects/{project.id}/leaderboard").status_code == 403
        project_page = client.get(f"/projects/{project.id}")
        assert f'href="{url}"' in project_page.text


class TestForm:
    def test_form_preselects_the_job_and_counts_live(self, client, db_session, done):
        project, admin, job = done
        manager, _ = _member(client, db_session, project, "manager")
        page = client.get(f"/projects/{project.id}/evaluation/new", params={"job_id": job.id})
        assert page.status_code == 200
        assert f'<option value="{job.id}:tuned" selected' in page.text
        assert f'<option value="{job.id}:base" selected' in page.text
        total = len(_prompts(db_session, make_round(db_session, project, admin, job)))
        assert f'data-count="{total}"' in page.text
        assert manager.email in page.text and "(manager)" in page.text  # members, with roles
        count = f"/projects/{project.id}/evaluation/count"
        zh = client.get(
            count, params={"a": f"{job.id}:tuned", "b": "reference", "language": "zh"}, headers=HX
        )
        assert zh.status_code == 200 and "<html" not in zh.text
        zh_total = len(
            _prompts(
                db_session,
                make_round(db_session, project, admin, job, b="reference", language="zh"),
            )
        )
        assert f'data-count="{zh_total}"' in zh.text and 0 < zh_total < total
        same = client.get(count, params={"a": "reference", "b": "reference"}, headers=HX)
        assert same.status_code == 422 and "Choose two different systems." in same.text

    def test_create_shows_errors_inline_then_redirects(self, client, db_session, done):
        project, admin, job = done
        _, csrf = _member(client, db_session, project, "manager")
        url = f"/projects/{project.id}/evaluation"
        fields = {"csrf_token": csrf, "name": "", "a": f"{job.id}:tuned", "b": "nonsense"}
        bad = client.post(url, data=fields)
        assert bad.status_code == 422
        assert 'id="name-error"' in bad.text and 'id="b-error"' in bad.text
        assert f'<option value="{job.id}:tuned" selected' in bad.text  # kept as typed
        fields.update(name="Tuned vs base", b=f"{job.id}:base", judges="named")
        nobody = client.post(url, data=fields)
        assert nobody.status_code == 422 and 'id="judge_ids-error"' in nobody.text
        fields.update(judges="reviewers", language="fr")
        empty = client.post(url, data=fields)
        assert empty.status_code == 422 and "no prompt in common" in empty.text
        fields.update(language="", overlap="2", mode="rating")
        made = client.post(url, data=fields)
        assert made.status_code == 303
        created = db_session.scalar(select(EvalRound).where(EvalRound.name == "Tuned vs base"))
        assert made.headers["location"] == f"/rounds/{created.id}"
        assert (created.mode, created.overlap) == ("rating", 2)
        assert "Evaluation round created." in client.get(made.headers["location"]).text
        (judge,) = reviewers(db_session, project, 1)
        seat = judging.seat_of(db_session, found=created, judge=judge)
        judging.submit(
            session=db_session,
            found=created,
            judge=judge,
            data=JudgmentInput(
                prompt_id=seat.next_id, rating_first=4, rating_second=2, correct_first=True
            ),
        )
        page = client.get(made.headers["location"])
        ratings = page.text.split('id="ratings"')[1].split("</table>")[0]
        assert re.findall(r'data-figure="mean">([^<]*)<', ratings) in (
            ["4.00", "2.00"],
            ["2.00", "4.00"],
        )


class TestRoundPage:
    def test_blind_while_open_live_for_managers_final_after_close(self, client, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, name="Round one")
        (judge,) = reviewers(db_session, project, 1)
        judge_all(db_session, found, [judge], lambda _, position: "a" if position % 3 else "tie")
        url = f"/rounds/{found.id}"

        _sign_in(client, judge)
        page = client.get(url)
        assert page.status_code == 200
        assert revealed(page.text, job) == [], revealed(page.text, job)
        assert 'id="results-hidden"' in page.text and 'id="my-progress"' in page.text
        assert client.get(f"{url}/results", headers=HX).status_code == 403
        assert client.get(f"{url}/export.csv").status_code == 403

        _, csrf = _member(client, db_session, project, "manager")
        page = client.get(url)
        assert 'id="round-results"' in page.text and 'hx-trigger="every 10s"' in page.text
        assert "Job" in page.text and judge.email in page.text
        assert re.search(r"preferred on \d+% of prompts, 95% CI \d+–\d+%, n = \d+", page.text)
        fragment = client.get(f"{url}/results", headers=HX)
        assert fragment.status_code == 200 and "<html" not in fragment.text
        assert 'id="round-results"' in fragment.text and "every 10s" in fragment.text

        stale = client.post(f"{url}/close", data={"csrf_token": csrf, "version": found.version + 1})
        assert stale.status_code == 409 and 'id="round-conflict"' in stale.text
        closed = client.post(f"{url}/close", data={"csrf_token": csrf, "version": found.version})
        assert closed.status_code == 303
        again = client.post(f"{url}/close", data={"csrf_token": csrf, "version": found.version})
        assert again.status_code == 409

        csv = client.get(f"{url}/export.csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().splitlines()
        assert len(lines) == 1 + len(_prompts(db_session, found))

        _sign_in(client, judge)
        page = client.get(url)
        assert 'id="results-final"' in page.text and "every 10s" not in page.text
        assert f'data-system="{job.id}:tuned"' in page.text
        assert 'id="results-by-language"' in page.text and 'data-group="zh"' in page.text
        assert 'id="export-csv"' in page.text

    def test_a_manager_who_judged_waits_like_everyone(self, client, db_session, done):
        project, admin, job = done
        manager, _ = _member(client, db_session, project, "manager")
        found = make_round(
            db_session, project, admin, job, name="Blind", judges="named", judge_ids=[manager.id]
        )
        judge_all(db_session, found, [manager], lambda _, position: "b")
        page = client.get(f"/rounds/{found.id}")
        assert revealed(page.text, job) == [] and 'id="close-round"' in page.text
        assert "You have judged every prompt handed to you." in page.text


class TestLeaderboard:
    def test_ranks_two_rounds_then_notes_a_second_group(self, client, db_session, done):
        project, admin, job = done
        url = f"/projects/{project.id}/leaderboard"
        _member(client, db_session, project, "reviewer")
        assert 'id="no-leaderboard"' in client.get(url).text
        judges = reviewers(db_session, project, 2)
        for b, verdict in ((f"{job.id}:base", "a"), ("reference", "b")):
            found = make_round(db_session, project, admin, job, b=b)
            judge_all(db_session, found, judges[:1], lambda *_, v=verdict: v)
            rounds.close_round(db_session, found=found, actor=admin)
        page = client.get(url)
        assert page.status_code == 200 and 'id="not-connected"' not in page.text
        order = re.findall(r'<tr data-system="([^"]+)"', page.text)
        assert order == ["reference", f"{job.id}:tuned", f"{job.id}:base"]
        assert "Bradley–Terry strengths fitted by the MM algorithm" in page.text
        assert "200 bootstrap resamples" in page.text

        version = db_session.get(DatasetVersion, job.dataset_version_id)
        other, _ = run_job(db_session, version, admin)
        found = make_round(db_session, project, admin, other)
        judge_all(db_session, found, judges[:1], lambda *_: "a")
        rounds.close_round(db_session, found=found, actor=admin)
        page = client.get(url)
        assert 'id="not-connected"' in page.text and "Group 2" in page.text
        assert f'data-system="{other.id}:tuned"' in page.text
