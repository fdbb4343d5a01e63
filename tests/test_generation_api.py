"""Generation jobs over the JSON API, the test playing the worker with its own token: launch
checks, the inputs a worker reads, what its answers become (model-drafted revisions, never
overwriting an edit, never approving), the self-approval rule for the launcher, the edit ratio
an annotator's save records, and a bootstrap round's filter on hand-written candidates."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.job_paths import API_ROOT, WorkerPath
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import Item, ItemRevision, Job
from app.reviews import service as reviews
from tests.api_helpers import bearer, member, outsider, refused
from tests.factories import join, make_token, make_user
from tests.generation_helpers import PROMPTS, claim, drafting, inputs, launch, send, setting

__all__ = ["setting"]  # the fixture, used by name


class TestLaunch:
    def test_a_manager_launches_over_a_filter(self, client, db_session, setting):
        project, admin, _, prompts, _ = setting
        response = launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "draft"},
            base_model="tiny",
            items={"status": "draft"},
        )
        assert response.status_code == 201, response.text
        job = response.json()
        assert job["kind"] == "generate" and job["dataset_version_id"] is None
        assert job["generation"]["task"] == "draft" and job["total_steps"] == len(prompts)
        # Reviewers see it on the job list and on its own page.
        reviewer = member(db_session, project, "reviewer")
        listed = client.get(f"/jobs?project_id={project.id}", headers=reviewer)
        assert listed.status_code == 200 and "Draft missing outputs" in listed.text
        page = client.get(f"/jobs/{job['id']}", headers=reviewer)
        assert page.status_code == 200 and 'id="job-kind"' in page.text
        assert 'id="cancel-job"' not in page.text  # a reviewer does not cancel
        assert client.get(f"/jobs/{job['id']}/live", headers=reviewer).status_code == 200

    def test_nothing_to_do_is_refused_with_a_sentence(self, client, db_session, setting):
        project, admin, _, _, _ = setting
        response = launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "draft"},
            base_model="tiny",
            items={"status": "approved"},
        )
        refused(response, 422, "invalid")
        assert "needs an output" in str(response.json()["detail"])

    def test_bad_settings_and_models_answer_422(self, client, db_session, setting):
        project, admin, _, _, _ = setting
        headers = bearer(db_session, admin)
        bad = launch(client, headers, project.id, generation={"task": "draft", "top_p": 0})
        assert bad.status_code == 422
        unknown = launch(client, headers, project.id, generation={"task": "poems"})
        assert unknown.status_code == 422
        no_model = launch(client, headers, project.id, generation={"task": "draft"})
        refused(no_model, 422, "invalid")
        path = launch(client, headers, project.id, generation={"task": "draft"}, base_model="/etc")
        refused(path, 422, "invalid")

    def test_only_the_projects_managers_launch(self, client, db_session, setting):
        project, _, _, _, _ = setting
        body = {"generation": {"task": "draft"}, "base_model": "tiny"}
        for role in ("annotator", "reviewer"):
            response = launch(client, member(db_session, project, role), project.id, **body)
            assert response.status_code == 403, role
        assert launch(client, outsider(db_session), project.id, **body).status_code == 404
        manager = launch(client, member(db_session, project, "manager"), project.id, **body)
        assert manager.status_code == 201


class TestDrafts:
    def test_answers_become_model_drafted_revisions_for_the_launcher(
        self, client, db_session, setting
    ):
        project, admin, author, prompts, worker = setting
        launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "draft"},
            base_model="tiny",
        )
        spec = claim(client, worker)
        assert spec["kind"] == "generate" and spec["generation"]["task"] == "draft"
        read = inputs(client, worker, spec)
        assert sorted(i["item_id"] for i in read) == sorted(p.id for p in prompts)
        # One prompt is edited after the job read it; its answer must not land.
        first = next(i for i in read if i["item_id"] == prompts[0].id)
        items.update_item(
            session=db_session,
            item_id=prompts[0].id,
            expected_version=prompts[0].version,
            draft=ItemDraft(kind="task", instruction=PROMPTS[0] + " Briefly.", language="en"),
            editor=author,
        )
        db_session.flush()
        reply = send(
            client,
            worker,
            spec,
            results=[
                {"input_id": i["input_id"], "output": f"Answer {n}."} for n, i in enumerate(read)
            ],
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["written"] == 1 and reply.json()["skipped"] == {"edited": 1}
        # The same batch again (a lost reply) writes nothing twice.
        again = send(client, worker, spec, results=[{"input_id": first["input_id"], "output": "x"}])
        assert again.json()["skipped"] == {"repeated": 1}

        db_session.expire_all()
        drafted = db_session.get(Item, prompts[1].id)
        assert drafted.output.startswith("Answer") and drafted.status == "draft"
        assert drafted.drafted_job_id == spec["job_id"] and drafted.draft_edit_ratio == 0.0
        revision = db_session.scalar(
            select(ItemRevision).where(
                ItemRevision.item_id == drafted.id, ItemRevision.version == drafted.version
            )
        )
        assert (revision.job_id, revision.editor_id) == (spec["job_id"], admin.id)
        assert db_session.get(Item, prompts[0].id).output == ""
        job = db_session.get(Job, spec["job_id"])
        assert job.step == 2 and job.metrics["written"] == 1

    def test_the_launcher_counts_as_author_and_edits_are_measured(
        self, client, db_session, setting
    ):
        project, admin, author, prompts, worker = setting
        spec, read = drafting(client, db_session, setting)
        text = (
            "The Danube flows through Austria, the Rhine through Germany and the Seine "
            "through France."
        )
        send(
            client,
            worker,
            spec,
            results=[{"input_id": read[prompts[0].id]["input_id"], "output": text}],
        )
        db_session.expire_all()
        item = db_session.get(Item, prompts[0].id)
        # The annotator changes two of the draft's words, then submits.
        changed = text.replace("Danube", "Inn").replace("Seine", "Loire")
        item = items.update_item(
            session=db_session,
            item_id=item.id,
            expected_version=item.version,
            submit=True,
            draft=ItemDraft(
                kind="task", instruction=item.instruction, output=changed, language="en"
            ),
            editor=author,
        )
        assert item.draft_edit_ratio == pytest.approx(
            2 / 16, abs=1e-4
        )  # 16 tokens: 14 words, a comma and a full stop
        # The launcher counts as an author of the drafted revision: not theirs to approve...
        assert admin.id in {
            r.editor_id
            for r in db_session.scalars(select(ItemRevision).where(ItemRevision.item_id == item.id))
        }
        with pytest.raises(Exception, match="changed this item|saved the content"):
            reviews.decide(
                session=db_session,
                item_id=item.id,
                reviewer=admin,
                decision="approve",
                version=item.version,
            )
        # ...but another reviewer may approve it.
        other = make_user(db_session, role="reviewer")
        join(db_session, project, other, role="reviewer")
        reviews.decide(
            session=db_session,
            item_id=item.id,
            reviewer=other,
            decision="approve",
            version=item.version,
        )
        assert db_session.get(Item, item.id).status == "approved"


class TestBootstrap:
    def test_a_round_filters_hand_written_candidates(self, client, db_session, setting):
        project, admin, _, _, worker = setting
        existing = db_session.scalars(
            select(Item.instruction).where(Item.project_id == project.id)
        ).first()
        launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "bootstrap", "answer": True},
            base_model="tiny",
        )
        spec = claim(client, worker)
        seeds = inputs(client, worker, spec)
        assert seeds and all(i["content"]["kind"] == "task" for i in seeds)
        good = "Suggest a name for a bakery that sells only sourdough bread."
        candidates = [
            good,
            "Suggest a name for a bakery that only sells sourdough bread.",  # close to the first
            "Draw a map.",  # too short
            "Describe the image below in two sentences for a blind reader.",  # asks for an image
            existing,  # already in the project
            "Write a program that prints the first ten prime numbers in order.",
            "A second good one: list four ways to keep cut flowers fresh for longer.",
        ]
        reply = send(
            client,
            worker,
            spec,
            candidates=[{"round": 1, "instruction": c} for c in candidates],
            unreadable=2,
        )
        assert reply.status_code == 200, reply.text
        kept = reply.json()["kept"]
        assert [k["content"]["instruction"] for k in kept] == [good, candidates[-1]]
        job = db_session.get(Job, spec["job_id"])
        db_session.refresh(job)
        assert job.metrics["proposed"] == 9 and job.metrics["kept"] == 2
        assert job.metrics["filtered"] == {
            "similar": 2,
            "too_short": 1,
            "unsuitable": 1,
            "write_a_program": 1,
            "unreadable": 2,
        }
        made = db_session.get(Item, kept[0]["item_id"])
        assert made.origin == "generated" and made.provenance == {"job_id": job.id, "round": 1}
        assert made.status == "draft" and made.output == "" and made.author_id == admin.id
        # With ``answer`` the kept instructions come back as inputs, answered as drafts.
        answer = send(
            client,
            worker,
            spec,
            results=[{"input_id": kept[0]["input_id"], "output": "Crumb & Crust."}],
        )
        assert answer.json()["written"] == 1
        db_session.refresh(made)
        assert made.output == "Crumb & Crust." and made.drafted_job_id == job.id

    def test_a_seed_input_is_never_written_onto(self, client, db_session, setting):
        project, admin, _, _, worker = setting
        launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "bootstrap"},
            base_model="tiny",
        )
        spec = claim(client, worker)
        seed = inputs(client, worker, spec)[0]
        reply = send(client, worker, spec, results=[{"input_id": seed["input_id"], "output": "x"}])
        assert reply.json()["skipped"] == {"repeated": 1}
        assert db_session.get(Item, seed["item_id"]).drafted_job_id is None

    def test_only_the_claiming_token_reads_and_writes(self, client, db_session, setting):
        project, admin, _, _, worker = setting
        launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "draft"},
            base_model="tiny",
        )
        spec = claim(client, worker)
        other = {"Authorization": f"Bearer {make_token(db_session, scope='worker', owner=None)}"}
        url = API_ROOT + WorkerPath.INPUTS.format(job_id=spec["job_id"])
        assert (
            client.get(url, params={"attempt": spec["attempt"]}, headers=other).status_code == 403
        )
        assert send(client, other, spec, results=[]).status_code == 403
        assert (
            client.get(
                url, params={"attempt": spec["attempt"]}, headers=bearer(db_session, admin)
            ).status_code
            == 403
        )
