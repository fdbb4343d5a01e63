"""The judging screen over HTTP: a judge's prompt and both outputs in their order, nothing that
tells the systems apart, answers recorded in the systems' terms, moving between prompts,
changing an answer, and who may judge."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select
from starlette.routing import NoMatchFound

from app import i18n
from app.evaluation import judging, rounds
from app.evaluation.systems import SIDE_NAMES
from app.items.schemas import ItemDraft
from app.models import EvalJudgment, EvalRound, EvalRoundPrompt
from tests.eval_factories import eval_drafts, make_round
from tests.factories import join, make_user
from tests.helpers import csrf_from, login
from tests.job_factories import project_version, run_job

NAME = "Spring check"  # the round's name is the manager's words: nothing about the systems
OUTPUT_RE = re.compile(r'id="output-(\d)"[^>]*>.*?<pre class="wrap judge-text">(.*?)</pre>', re.S)


def constraint_job(
    session, *, tasks: int = 2, constrained: int = 2, finish=run_job, name: str = "Judging screen"
):
    """A finished job whose eval prompts include no-comma constraints (the tuned output breaks
    the rule, the base output keeps it): (project, admin, job). Each kind keeps one item for
    training; ``finish(session, version, admin)`` returns the finished job first."""
    drafts = eval_drafts(tasks) + [
        ItemDraft(
            kind="constraint",
            instruction=f"Name three colours of flag {i} without commas.",
            output=f"Red and white and blue for flag {i}",
            constraints=[{"id": "punctuation:no_comma"}],
            domain="travel",
            language="en",
        )
        for i in range(constrained)
    ]
    project, admin, version = project_version(session, name, drafts=drafts, eval_fraction=0.99)
    job, *_ = finish(session, version, admin)
    return project, admin, job


def leaks(page: str, found: EvalRound) -> list[str]:
    """What in ``page`` could tell a judge which system wrote which output."""
    text = html.unescape(page)
    a, b = rounds.systems_of(found)
    found_words = [
        needle for needle in (a.key, b.key, a.label(), b.label()) if needle.lower() in text.lower()
    ]
    patterns = [
        r"\btuned\b",
        r"\bbase\b",
        r"reference outputs",
        r"system [ab]\b",
        r"data-system",
        r"output_[ab]\b",
        *(rf"\b{s.job_id}\W{{0,3}}(tuned|base)" for s in (a, b) if s.job_id),
    ]
    found_words += [p for p in patterns if re.search(p, text, re.I)]
    zh = i18n.translations("zh")  # the side names as a judge reading Chinese would see them
    translated = {zh.gettext(name) for name in SIDE_NAMES.values()}
    return found_words + sorted(word for word in translated if word in text)


def _has_route(client, name: str) -> bool:
    try:
        client.app.url_path_for(name, round_id=1)
    except NoMatchFound:
        return False
    return True


def _judge(client, db_session, project, *, role="reviewer", language="en"):
    person = make_user(db_session, role=role, language=language)
    join(db_session, project, person)
    client.cookies.clear()  # sign out whoever was signed in
    login(client, person.email)
    return person


def _post(client, found, page, **data):
    return client.post(f"/rounds/{found.id}/judge", data={"csrf_token": csrf_from(page), **data})


def _shown(page: str) -> list[str]:
    return [html.unescape(text) for _n, text in OUTPUT_RE.findall(page)]


def _folded_checks(page: str) -> None:
    """A prompt with a no-comma constraint: its checks for each output, folded away."""
    assert page.count('<details class="judge-verdicts" data-verdicts>') == 2
    assert "<details open" not in page
    states = re.findall(r'data-state="(pass|fail)"', page)
    assert sorted(states) == ["fail", "pass"]  # the tuned output has commas, the base none


def _prompt_id(page: str) -> int:
    return int(re.search(r'name="prompt_id" value="(\d+)"', page).group(1))


@pytest.fixture
def done(db_session):
    """Ten prompts: nine tasks and one with a constraint."""
    return constraint_job(db_session, tasks=10, constrained=2)


class TestScreen:
    def test_the_prompt_and_both_outputs_in_the_judges_order(self, client, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, name=NAME)
        judge = _judge(client, db_session, project)
        sides = set()
        for n in range(4):
            seat = judging.seat_of(db_session, found=found, judge=judge)
            prompt = db_session.get(EvalRoundPrompt, seat.next_id)
            swapped = seat.walk.swapped[prompt.id]
            sides.add(swapped)
            page = client.get(f"/rounds/{found.id}/judge").text
            assert _prompt_id(page) == prompt.id
            for message in prompt.messages:
                assert html.escape(message["content"], quote=False) in page
            first, second = (prompt.output_b, prompt.output_a) if swapped else (
                prompt.output_a, prompt.output_b
            )  # fmt: skip
            assert _shown(page) == [first, second]
            if n == 0:
                # An open round's name stays hidden from its judges: it may name the systems.
                assert f"<title>Judge outputs · Round {found.id}" in page and NAME not in page
                assert 'id="my-progress"' in page and 'id="round-progress"' in page
                assert 'data-choice-key="4"' in page and 'name="reasons"' in page
                assert "/static/js/judge.js" in page and 'id="page-shortcuts"' in page
            sent = _post(client, found, page, prompt_id=prompt.id, choice="first")
            assert sent.status_code == 303
            saved = db_session.scalar(
                select(EvalJudgment).where(
                    EvalJudgment.prompt_id == prompt.id, EvalJudgment.judge_id == judge.id
                )
            )
            # "first" is output 1: system B's output on a swapped prompt.
            assert (saved.verdict, saved.swapped) == ("b" if swapped else "a", swapped)
        assert sides == {True, False}

    def test_no_page_of_two_judges_tells_the_systems_apart(self, client, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, name=NAME, overlap=2)
        total = rounds.prompt_count(db_session, found.id)
        constrained = db_session.scalar(
            select(func.count()).where(
                EvalRoundPrompt.round_id == found.id, EvalRoundPrompt.kind == "constraint"
            )
        )
        assert constrained == 1
        for language in ("en", "zh"):
            _judge(client, db_session, project, language=language)
            seen, checked = set(), 0
            page = client.get(f"/rounds/{found.id}/judge")
            while 'id="judge-done"' not in page.text:
                assert leaks(page.text, found) == [], language
                if "data-verdicts" in page.text:
                    _folded_checks(page.text)
                    checked += 1
                seen.add(_prompt_id(page.text))
                sent = _post(
                    client, found, page.text, prompt_id=_prompt_id(page.text), choice="tie"
                )
                assert sent.status_code == 303
                page = client.get(sent.headers["location"])
            assert len(seen) == total
            assert checked == constrained
            assert leaks(page.text, found) == []  # the done page
            earlier = client.get(f"/rounds/{found.id}/judge", params={"prompt": min(seen)})
            assert earlier.status_code == 200 and leaks(earlier.text, found) == []
        # The negative control: once the round is closed, its own page names the systems to
        # its judges, and the same check finds them there.
        if _has_route(client, "round"):
            rounds.close_round(db_session, found=found, actor=admin)
            assert leaks(client.get(f"/rounds/{found.id}").text, found)
        # And it finds each way a page could name a system.
        clean = "<p>Output 1</p><p>Output 2</p>"
        assert leaks(clean, found) == []
        for planted in (
            f'<span data-system="{job.id}:tuned">',
            f"<td>{job.id}:base</td>",
            f"<td>job {job.id} tuned</td>",
            f"<h2>Job {job.id} · base</h2>",
            "<h2>Tuned</h2>",
            "<h2>Reference outputs</h2>",
            "<td>微调后</td>",
            '<section id="output_a">',
            "<p>System A</p>",
        ):
            assert leaks(clean + planted, found), planted


class TestMoving:
    def test_j_k_links_revisit_and_change_an_answer(self, client, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, name=NAME)
        judge = _judge(client, db_session, project)
        url = f"/rounds/{found.id}/judge"
        first = client.get(url)
        assert 'rel="prev"' not in first.text and 'rel="next"' not in first.text
        done_ids = []
        for choice in ("second", "both_bad"):
            page = client.get(url)
            done_ids.append(_prompt_id(page.text))
            reasons = ["wrong", "unsafe"] if choice == "second" else []
            sent = _post(
                client, found, page.text, prompt_id=done_ids[-1], choice=choice,
                reasons=reasons, comment="Too short" if reasons else "",
            )  # fmt: skip
            assert sent.headers["location"] == url
        third = client.get(url)
        assert f'href="{url}?prompt={done_ids[1]}" rel="prev"' in third.text
        back = client.get(url, params={"prompt": done_ids[0]})
        assert 'rel="prev"' not in back.text
        assert f'href="{url}?prompt={done_ids[1]}" rel="next"' in back.text
        assert re.search(r'value="second"[^>]*aria-pressed="true"', back.text)
        assert back.text.count('aria-pressed="true"') == 1
        assert (
            re.search(r'value="wrong" checked', back.text) and "Too short</textarea>" in back.text
        )
        saved = db_session.scalar(
            select(EvalJudgment).where(
                EvalJudgment.prompt_id == done_ids[0], EvalJudgment.judge_id == judge.id
            )
        )
        assert 'name="version" value="1"' in back.text
        changed = _post(
            client, found, back.text, prompt_id=done_ids[0], choice="tie", version=saved.version
        )
        assert changed.headers["location"] == f"{url}?prompt={done_ids[1]}"
        db_session.refresh(saved)
        assert (saved.verdict, saved.reasons, saved.comment) == ("tie", [], "")
        # The answer after the last one judged goes on to the next prompt, whichever it is.
        middle = client.get(url, params={"prompt": done_ids[1]})
        assert f'href="{url}?prompt={_prompt_id(third.text)}" rel="next"' in middle.text
        again = _post(client, found, middle.text, prompt_id=done_ids[1], choice="tie", version=1)
        assert again.headers["location"] == url
        # A stale version is refused, and the page says so.
        stale = _post(client, found, back.text, prompt_id=done_ids[0], choice="first", version=1)
        assert stale.status_code == 409 and 'id="judge-error"' in stale.text
        assert "changed in another window" in stale.text

    def test_refusals_and_who_may_judge(self, client, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, name=NAME)
        judge = _judge(client, db_session, project)
        seat = judging.seat_of(db_session, found=found, judge=judge)
        later = next(p for p in seat.walk.order if p != seat.next_id)
        assert client.get(f"/rounds/{found.id}/judge", params={"prompt": later}).status_code == 404
        page = client.get(f"/rounds/{found.id}/judge").text
        assert _post(client, found, page, prompt_id=later, choice="tie").status_code == 404
        sent = _post(client, found, page, prompt_id=_prompt_id(page), comment="Hmm <b>")
        assert sent.status_code == 422 and "Choose which output is better." in sent.text
        assert "Hmm &lt;b&gt;</textarea>" in sent.text
        odd = _post(client, found, page, prompt_id=_prompt_id(page), choice="x", reasons="no")
        assert odd.status_code == 422
        assert db_session.scalar(select(EvalJudgment.id)) is None
        # Only judges of the project judge.
        url = f"/rounds/{found.id}/judge"
        _judge(client, db_session, project, role="annotator")  # not a judge of a reviewers' round
        assert client.get(url).status_code == 403
        assert _post(client, found, client.get("/").text, prompt_id=1).status_code == 403
        outsider = make_user(db_session, role="reviewer")
        client.cookies.clear()
        login(client, outsider.email)
        assert client.get(url).status_code == 404
        assert _post(client, found, client.get("/").text, prompt_id=1).status_code == 404


class TestRating:
    def test_ratings_are_stored_in_the_systems_terms(self, client, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, name=NAME, mode="rating")
        judge = _judge(client, db_session, project)
        page = client.get(f"/rounds/{found.id}/judge").text
        assert 'name="rating_first"' in page and 'name="correct_second"' in page
        assert "data-choice-key" not in page
        prompt_id = _prompt_id(page)
        swapped = judging.seat_of(db_session, found=found, judge=judge).walk.swapped[prompt_id]
        half = _post(client, found, page, prompt_id=prompt_id, rating_first="4")
        assert half.status_code == 422 and "Rate both outputs." in half.text
        sent = _post(
            client, found, page, prompt_id=prompt_id, rating_first="4", rating_second="2",
            correct_first="1",
        )  # fmt: skip
        assert sent.status_code == 303
        saved = db_session.scalar(select(EvalJudgment))
        assert (saved.rating_a, saved.rating_b) == ((2, 4) if swapped else (4, 2))
        assert (saved.correct_b if swapped else saved.correct_a) is True
        back = client.get(f"/rounds/{found.id}/judge", params={"prompt": prompt_id}).text
        assert re.search(r'name="rating_first" value="4"[^>]*checked', back)
        assert re.search(r'name="correct_first" value="1"[^>]*checked', back)


class TestClosing:
    def test_the_done_page_then_a_closed_round(self, client, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, name=NAME, limit=2)
        _judge(client, db_session, project)
        url = f"/rounds/{found.id}/judge"
        for _ in range(2):
            page = client.get(url).text
            _post(client, found, page, prompt_id=_prompt_id(page), choice="first")
        finished = client.get(url)
        assert "You have judged every prompt handed to you." in finished.text
        assert "You gave 2 judgments in this round." in finished.text
        assert f'href="/projects/{project.id}"' in finished.text
        assert 'rel="prev"' in finished.text  # k: back to the last prompt judged
        assert '<progress id="my-progress" max="2" value="2">' in finished.text
        rounds.close_round(db_session, found=found, actor=admin)
        judged = db_session.scalar(select(EvalJudgment.prompt_id))
        changed = _post(client, found, page, prompt_id=judged, choice="tie", version=1)
        assert changed.status_code == 409 and "This round is closed" in changed.text
        # A prompt they were never handed: the closed round is the answer, not a 404.
        refused = _post(client, found, page, prompt_id=999999, choice="first")
        assert refused.status_code == 409 and 'id="judge-done"' in refused.text
        closed = client.get(url)
        assert 'id="judge-done"' in closed.text and "This round is closed." in closed.text
        shown = client.get(url, params={"prompt": judged}).text
        assert 'id="judge-closed"' in shown and '<fieldset class="judge-fields" disabled>' in shown
