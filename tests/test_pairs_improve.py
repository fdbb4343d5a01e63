"""Improving a model output, on both databases: the page beside a job's or a closed round's
output, who may open it, what the saved pair holds, the refusals that keep the text typed,
"save and next", and the live constraint checks of the response being written."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.kinds import ItemContent, ItemKind
from app.core.prompts import prompt_messages
from app.errors import InvalidInput
from app.jobs import results
from app.models import AuditEvent, EvalPrediction, EvalRoundPrompt, Item
from app.pairs import improve, sources
from tests.eval_factories import finished_job, make_round
from tests.factories import join, make_user
from tests.helpers import login
from tests.round_pair_factories import judged_round
from tests.test_judging_screen import constraint_job

HX = {"HX-Request": "true"}
BETTER = "A better answer, written by a person."


def _sign_in(client, user) -> str:
    client.cookies.clear()
    return login(client, user.email)


def _member(client, db_session, project, role: str):
    user = make_user(db_session)
    join(db_session, project, user, role=role)
    return user, _sign_in(client, user)


def _predictions(db_session, job) -> list[EvalPrediction]:
    return list(
        db_session.scalars(
            select(EvalPrediction)
            .where(EvalPrediction.job_id == job.id)
            .order_by(EvalPrediction.item_id)
        )
    )


@pytest.fixture
def done(db_session):
    """A finished job: (project, admin, job)."""
    return finished_job(db_session, items=6, name="Improve")


class TestService:
    def test_the_pair_holds_the_persons_answer_against_the_models(self, db_session, done):
        project, admin, job = done
        first = _predictions(db_session, job)[0]
        source = sources.job_source(db_session, job=job, item_id=first.item_id, side="base")
        pair = improve.improve(db_session, source=source, chosen=BETTER, actor=admin)
        assert (pair.kind, pair.status, pair.origin) == ("preference", "draft", "improved")
        assert (pair.output, pair.rejected) == (BETTER, first.base_output)
        assert pair.author_id == admin.id and pair.project_id == project.id
        assert pair.provenance == {
            "job_id": job.id,
            "item_id": first.item_id,
            "system": f"{job.id}:base",
        }
        pinned = results.snapshots_of(db_session, job.dataset_version_id, [first.item_id])
        content = ItemContent.from_row(pinned[first.item_id])
        assert prompt_messages(ItemContent.from_row(pair)) == prompt_messages(content)
        assert (pair.instruction, pair.input, pair.language) == (
            content.instruction,
            content.input,
            content.language,
        )
        event = db_session.scalar(
            select(AuditEvent).where(AuditEvent.action == "pairs.output_improved")
        )
        assert event.entity_id == str(pair.id) and event.actor_id == admin.id
        assert event.after["system"] == f"{job.id}:base"
        assert improve.earlier(db_session, source=source, drafts_of=None) == [pair.id]

    @pytest.mark.parametrize(
        ("chosen", "message"),
        [("", "Write your better response"), ("   \n", "Write your better response")],
    )
    def test_an_empty_response_is_refused(self, db_session, done, chosen, message):
        project, admin, job = done
        first = _predictions(db_session, job)[0]
        source = sources.job_source(db_session, job=job, item_id=first.item_id, side="tuned")
        with pytest.raises(InvalidInput, match=message) as refused:
            improve.improve(db_session, source=source, chosen=chosen, actor=admin)
        assert set(refused.value.errors) == {"chosen"}

    def test_the_models_own_output_is_refused(self, db_session, done):
        project, admin, job = done
        first = _predictions(db_session, job)[0]
        source = sources.job_source(db_session, job=job, item_id=first.item_id, side="tuned")
        with pytest.raises(InvalidInput, match="unchanged"):
            improve.improve(
                db_session, source=source, chosen=f" {first.tuned_output}\n", actor=admin
            )
        assert db_session.scalar(select(Item.id).where(Item.origin == "improved")) is None

    def test_a_rounds_reference_outputs_are_no_models(self, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, b="reference")
        prompt_id = db_session.scalar(
            select(EvalRoundPrompt.id).where(EvalRoundPrompt.round_id == found.id).limit(1)
        )
        with pytest.raises(InvalidInput, match="a person's answer"):
            sources.round_source(db_session, found=found, prompt_id=prompt_id, side="b")


class TestJobPage:
    def test_the_results_page_links_each_output_to_its_improve_page(self, client, db_session, done):
        project, admin, job = done
        _member(client, db_session, project, "reviewer")
        page = client.get(f"/jobs/{job.id}/results")
        assert page.status_code == 200
        first = _predictions(db_session, job)[0]
        assert f"/jobs/{job.id}/predictions/{first.item_id}/improve?side=tuned" in page.text
        assert f"/jobs/{job.id}/predictions/{first.item_id}/improve?side=base" in page.text

    def test_a_reviewer_improves_and_goes_on_to_the_next_output(self, client, db_session, done):
        project, admin, job = done
        reviewer, csrf = _member(client, db_session, project, "reviewer")
        first, second = _predictions(db_session, job)[:2]
        first.tuned_output = "<b>not bold</b> & so on"
        db_session.flush()
        url = f"/jobs/{job.id}/predictions/{first.item_id}/improve"
        page = client.get(f"{url}?side=tuned")
        assert page.status_code == 200
        assert "&lt;b&gt;not bold&lt;/b&gt; &amp; so on" in page.text
        assert "<b>not bold</b>" not in page.text
        form = page.text.split('id="improve-form"')[1].split("</form>")[0]
        assert f'name="csrf_token" value="{csrf}"' in form
        saved = client.post(
            url, data={"csrf_token": csrf, "side": "tuned", "chosen": BETTER, "then": "next"}
        )
        assert saved.status_code == 303, saved.text
        pair = db_session.scalar(select(Item).where(Item.origin == "improved"))
        assert (pair.output, pair.rejected, pair.author_id) == (
            BETTER,
            "<b>not bold</b> & so on",
            reviewer.id,
        )
        following = (
            f"/jobs/{job.id}/predictions/{second.item_id}/improve?side=tuned&saved={pair.id}"
        )
        assert saved.headers["location"] == following
        next_page = client.get(following)
        assert f'href="/items/{pair.id}/edit"' in next_page.text
        assert f"Draft pair #{pair.id} saved." in next_page.text
        # Back on the first output: the pair made from it is listed.
        again = client.get(f"{url}?side=tuned")
        assert 'id="improved-before"' in again.text and f"#{pair.id}" in again.text

    def test_save_and_open_goes_to_the_new_pair(self, client, db_session, done):
        project, admin, job = done
        _, csrf = _member(client, db_session, project, "reviewer")
        last = _predictions(db_session, job)[-1]
        url = f"/jobs/{job.id}/predictions/{last.item_id}/improve"
        opened = client.post(url, data={"csrf_token": csrf, "side": "base", "chosen": BETTER})
        pair = db_session.scalar(select(Item).where(Item.origin == "improved"))
        assert opened.headers["location"] == f"/items/{pair.id}/edit"
        assert pair.rejected == last.base_output
        # "Save and next" on the last output also opens the pair: there is no next.
        nexted = client.post(
            url, data={"csrf_token": csrf, "side": "base", "chosen": BETTER + "!", "then": "next"}
        )
        assert nexted.headers["location"].endswith("/edit")

    @pytest.mark.parametrize(
        ("chosen", "sentence"),
        [
            ("  ", "Write your better response before saving."),
            (None, "unchanged; change it to make it better."),
        ],
    )
    def test_a_refused_response_comes_back_with_the_text_kept(
        self, client, db_session, done, chosen, sentence
    ):
        project, admin, job = done
        _, csrf = _member(client, db_session, project, "reviewer")
        first = _predictions(db_session, job)[0]
        text = first.tuned_output if chosen is None else chosen
        url = f"/jobs/{job.id}/predictions/{first.item_id}/improve"
        for headers in ({}, HX):
            refused = client.post(
                url,
                data={"csrf_token": csrf, "side": "tuned", "chosen": text, "then": "next"},
                headers=headers,
            )
            assert refused.status_code == 422
            assert sentence in refused.text
            assert f">{text}</textarea>" in refused.text
            assert 'id="chosen-error"' in refused.text
        assert db_session.scalar(select(Item.id).where(Item.origin == "improved")) is None

    def test_annotators_do_not_see_job_outputs(self, client, db_session, done):
        project, admin, job = done
        _, csrf = _member(client, db_session, project, "annotator")
        first = _predictions(db_session, job)[0]
        url = f"/jobs/{job.id}/predictions/{first.item_id}/improve"
        assert client.get(url).status_code == 403
        posted = client.post(url, data={"csrf_token": csrf, "chosen": BETTER})
        assert posted.status_code == 403

    def test_an_item_without_an_output_is_not_found(self, client, db_session, done):
        project, admin, job = done
        _member(client, db_session, project, "reviewer")
        train = db_session.scalar(
            select(Item.id)
            .where(Item.project_id == project.id)
            .where(Item.id.not_in(select(EvalPrediction.item_id)))
            .limit(1)
        )
        assert client.get(f"/jobs/{job.id}/predictions/{train}/improve").status_code == 404


class TestChecks:
    def test_both_responses_are_checked_against_the_prompts_constraints(self, client, db_session):
        project, admin, job = constraint_job(db_session, tasks=2, constrained=3, name="Checks")
        _, csrf = _member(client, db_session, project, "reviewer")
        constrained = next(p for p in _predictions(db_session, job) if p.kind == "constraint")
        url = f"/jobs/{job.id}/predictions/{constrained.item_id}/improve"
        page = client.get(f"{url}?side=tuned")
        # The tuned output breaks the no-comma rule; nothing is written yet, which passes.
        model = page.text.split('id="model-checks"')[1].split("</div>")[0]
        assert 'data-constraint="punctuation:no_comma" data-state="fail"' in model
        chosen = page.text.split('id="chosen-checks"')[1].split("</div>")[0]
        assert 'data-state="pass"' in chosen
        for text, state in (("Red and blue and green", "pass"), ("red, blue", "fail")):
            checked = client.post(
                f"{url}/check",
                data={"csrf_token": csrf, "side": "tuned", "chosen": text},
                headers=HX,
            )
            assert checked.status_code == 200
            assert 'id="chosen-checks"' in checked.text
            assert f'data-constraint="punctuation:no_comma" data-state="{state}"' in checked.text


class TestRoundPages:
    @pytest.fixture
    def judged(self, db_session):
        return judged_round(db_session, lambda index, position: ("a", []), judges=2, overlap=2)

    def test_those_who_see_the_results_improve_a_closed_rounds_output(
        self, client, db_session, judged
    ):
        project, admin, job, found, (judge, _) = judged
        prompts = list(
            db_session.scalars(
                select(EvalRoundPrompt)
                .where(EvalRoundPrompt.round_id == found.id)
                .order_by(EvalRoundPrompt.position)
            )
        )
        csrf = _sign_in(client, judge)
        listing = client.get(f"/rounds/{found.id}/outputs")
        assert listing.status_code == 200
        assert f"/rounds/{found.id}/prompts/{prompts[0].id}/improve?side=b" in listing.text
        # A page number that is no ASCII number is the first page, not a server error.
        assert client.get(f"/rounds/{found.id}/outputs", params={"page": "²"}).status_code == 200
        url = f"/rounds/{found.id}/prompts/{prompts[0].id}/improve"
        page = client.get(f"{url}?side=b")
        assert page.status_code == 200 and 'id="other-side"' in page.text
        saved = client.post(
            url, data={"csrf_token": csrf, "side": "b", "chosen": BETTER, "then": "next"}
        )
        assert saved.status_code == 303, saved.text
        pair = db_session.scalar(select(Item).where(Item.origin == "improved"))
        assert (pair.output, pair.rejected) == (BETTER, prompts[0].output_b)
        assert pair.provenance == {
            "round_id": found.id,
            "round_prompt_id": prompts[0].id,
            "job_id": job.id,
            "item_id": prompts[0].item_id,
            "system": f"{job.id}:base",
        }
        assert prompt_messages(ItemContent.from_row(pair)) == prompts[0].messages
        assert saved.headers["location"] == (
            f"/rounds/{found.id}/prompts/{prompts[1].id}/improve?side=b&saved={pair.id}"
        )
        assert ItemContent.from_row(pair).kind is ItemKind.preference
        # The list now links the pair under the output it improved.
        listing = client.get(f"/rounds/{found.id}/outputs")
        assert f'href="/items/{pair.id}/edit" data-improved' in listing.text

    def test_an_annotator_who_did_not_judge_sees_nothing(self, client, db_session, judged):
        project, admin, job, found, _ = judged
        _, csrf = _member(client, db_session, project, "annotator")
        prompt_id = db_session.scalar(
            select(EvalRoundPrompt.id).where(EvalRoundPrompt.round_id == found.id).limit(1)
        )
        assert client.get(f"/rounds/{found.id}/outputs").status_code == 403
        url = f"/rounds/{found.id}/prompts/{prompt_id}/improve"
        assert client.get(url).status_code == 403
        posted = client.post(url, data={"csrf_token": csrf, "side": "a", "chosen": BETTER})
        assert posted.status_code == 403

    def test_an_open_rounds_outputs_wait_for_the_close(self, client, db_session):
        project, admin, job, found, _ = judged_round(
            db_session, lambda index, position: ("a", []), judges=1, overlap=2, close=False
        )
        prompt_id = db_session.scalar(
            select(EvalRoundPrompt.id).where(EvalRoundPrompt.round_id == found.id).limit(1)
        )
        # A manager who does not judge sees live results, but improves nothing until the close.
        manager, csrf = _member(client, db_session, project, "manager")
        url = f"/rounds/{found.id}/prompts/{prompt_id}/improve"
        page = client.get(url)
        assert page.status_code == 409 and "once it closes" in page.text
        posted = client.post(url, data={"csrf_token": csrf, "side": "a", "chosen": BETTER})
        assert posted.status_code == 409
        assert client.get(f"/rounds/{found.id}/outputs").status_code == 409
        assert db_session.scalar(select(Item.id).where(Item.origin == "improved")) is None

    def test_a_prompt_of_another_round_is_not_found(self, client, db_session, judged):
        project, admin, job, found, (judge, _) = judged
        other = make_round(db_session, project, admin, job, name="Other")
        prompt_id = db_session.scalar(
            select(EvalRoundPrompt.id).where(EvalRoundPrompt.round_id == other.id).limit(1)
        )
        _sign_in(client, judge)
        assert client.get(f"/rounds/{found.id}/prompts/{prompt_id}/improve").status_code == 404
