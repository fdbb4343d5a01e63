"""Generation jobs over the JSON API, at their edges and in the rest of the product: the
model-drafted filter of the item list and of versions, the editor's mark and the statistics;
an item deleted mid-job, a retry after part of the work, languages the model rewrites, and the
cap on tries waiting."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.job_paths import API_ROOT, WorkerPath
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import GenerationInput, Item, Job
from app.reviews import service as reviews
from tests.api_helpers import bearer, refused
from tests.factories import join, make_user
from tests.generation_helpers import drafting, launch, send, setting

__all__ = ["setting"]  # the fixture, used by name


class TestProvenance:
    @pytest.fixture
    def drafted(self, client, db_session, setting):
        """The first prompt drafted by a job: (project, admin, author, drafted item, other)."""
        project, admin, author, prompts, worker = setting
        spec, read = drafting(client, db_session, setting, item_ids=[prompts[0].id])
        (only,) = read.values()
        send(client, worker, spec, results=[{"input_id": only["input_id"], "output": "Rhine."}])
        db_session.expire_all()
        return project, admin, author, db_session.get(Item, prompts[0].id), prompts[1]

    def test_the_item_list_filters_model_drafted_outputs(self, client, db_session, drafted):
        project, admin, _, item, other = drafted
        url = f"/api/v1/projects/{project.id}/items"
        headers = bearer(db_session, admin)
        yes = client.get(url, params={"drafted": "yes"}, headers=headers).json()["items"]
        assert [i["id"] for i in yes] == [item.id]
        assert yes[0]["drafted_job_id"] == item.drafted_job_id and yes[0]["draft_edit_ratio"] == 0
        no = {
            i["id"]
            for i in client.get(url, params={"drafted": "no"}, headers=headers).json()["items"]
        }
        assert other.id in no and item.id not in no
        assert client.get(url, params={"drafted": "maybe"}, headers=headers).status_code == 422

    def test_a_version_filter_keeps_or_leaves_out_drafted_outputs(self, db_session, drafted):
        from app.datasets.versions import VersionFilter, matching

        project, _, _, item, other = drafted
        ids = lambda f: set(db_session.scalars(matching(project.id, f)))  # noqa: E731
        assert ids(VersionFilter(statuses=["draft"], drafted="yes")) == {item.id}
        assert item.id not in ids(VersionFilter(statuses=["draft"], drafted="no"))
        assert other.id in ids(VersionFilter(statuses=["draft"], drafted="no"))

    def test_the_editor_shows_the_mark_and_how_much_was_changed(self, client, db_session, drafted):
        project, admin, author, item, _ = drafted
        item = items.update_item(
            session=db_session,
            item_id=item.id,
            expected_version=item.version,
            draft=ItemDraft(
                kind="task", instruction=item.instruction, output="The Rhine.", language="en"
            ),
            editor=author,
        )
        db_session.flush()
        page = client.get(f"/items/{item.id}/edit", headers=bearer(db_session, author))
        assert page.status_code == 200
        assert 'id="model-drafted"' in page.text and "Model-drafted output" in page.text
        # "Rhine ." became "The Rhine ." : one insertion over three tokens.
        assert "33% of its words changed" in page.text

    def test_statistics_report_the_share_drafted_and_the_mean_edit_ratio(
        self, client, db_session, drafted
    ):
        project, admin, author, item, _ = drafted
        approved_before = db_session.scalar(
            select(func.count()).where(Item.project_id == project.id, Item.status == "approved")
        )
        item = items.update_item(
            session=db_session,
            item_id=item.id,
            expected_version=item.version,
            submit=True,
            draft=ItemDraft(
                kind="task", instruction=item.instruction, output="The Rhine.", language="en"
            ),
            editor=author,
        )
        other = make_user(db_session, role="reviewer")
        join(db_session, project, other, role="reviewer")
        reviews.decide(
            session=db_session,
            item_id=item.id,
            reviewer=other,
            decision="approve",
            version=item.version,
        )
        body = client.get(
            f"/api/v1/projects/{project.id}/stats", headers=bearer(db_session, admin)
        ).json()
        work = body["model_work"]
        assert work["approved"] == approved_before + 1 and work["drafted"] == 1
        assert work["drafted_share"] == pytest.approx(1 / (approved_before + 1))
        assert work["mean_edit_ratio"] == pytest.approx(1 / 3, abs=1e-4)
        page = client.get(f"/projects/{project.id}/stats", headers=bearer(db_session, admin))
        assert 'id="drafted-share"' in page.text and "33%" in page.text


class TestEdges:
    def test_a_deleted_item_is_counted_and_the_rest_of_the_batch_lands(
        self, client, db_session, setting
    ):
        project, admin, author, prompts, worker = setting
        spec, read = drafting(client, db_session, setting)
        items.delete_drafts(session=db_session, items=[prompts[0]], actor=author)
        db_session.flush()
        reply = send(
            client,
            worker,
            spec,
            results=[{"input_id": read[p.id]["input_id"], "output": "Yes."} for p in prompts],
        )
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"written": 1, "skipped": {"deleted": 1}, "kept": []}
        assert db_session.get(Item, prompts[1].id).output == "Yes."

    def test_a_retry_reads_only_the_unfinished_and_takes_them_over(
        self, client, db_session, setting
    ):
        project, admin, _, prompts, worker = setting
        spec, read = drafting(client, db_session, setting)
        send(
            client,
            worker,
            spec,
            results=[{"input_id": read[prompts[0].id]["input_id"], "output": "Done."}],
        )
        failed = client.post(
            API_ROOT + WorkerPath.FAIL.format(job_id=spec["job_id"]),
            json={"attempt": spec["attempt"], "error": "out of memory"},
            headers=worker,
        )
        assert failed.status_code == 200, failed.text
        headers = bearer(db_session, admin)
        retried = client.post(f"/api/v1/jobs/{spec['job_id']}/retry", headers=headers)
        assert retried.status_code == 201, retried.text
        again = retried.json()
        assert again["parent_id"] == spec["job_id"] and again["total_steps"] == 1
        pinned = db_session.scalars(
            select(GenerationInput.item_id).where(GenerationInput.job_id == again["id"])
        ).all()
        assert pinned == [prompts[1].id]
        # Retrying the first job again reads nothing twice.
        twice = client.post(f"/api/v1/jobs/{spec['job_id']}/retry", headers=headers)
        refused(twice, 409, "conflict")

    def test_model_rewriting_reads_english_and_chinese_only(self, client, db_session, setting):
        project, admin, author, _, _ = setting
        german = items.create_item(
            session=db_session,
            project=project,
            author=author,
            draft=ItemDraft(
                kind="task",
                instruction="Nenne drei Flüsse in Europa.",
                output="Rhein.",
                language="de",
            ),
        )
        response = launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "paraphrase"},
            base_model="tiny",
            items={"item_ids": [german.id]},
        )
        refused(response, 422, "invalid")
        assert "English or Chinese" in str(response.json()["detail"])

    def test_one_person_has_at_most_three_tries_waiting(self, client, db_session, setting):
        from app.core.job_paths import JobFolder
        from app.jobs.generation import trying

        project, admin, _, _, _ = setting
        tuned = Job(
            project_id=project.id, base_model="tiny", params={"method": "full"}, status="succeeded"
        )
        db_session.add(tuned)
        db_session.flush()
        JobFolder.of(client.app.state.settings.resolved_artifacts_dir, tuned.id).model.mkdir(
            parents=True
        )
        url, headers = f"/api/v1/jobs/{tuned.id}/try", bearer(db_session, admin)
        for _ in range(trying.MAX_WAITING):
            assert client.post(url, json={"prompt": "Hi"}, headers=headers).status_code == 201
        fourth = client.post(url, json={"prompt": "Hi"}, headers=headers)
        refused(fourth, 422, "invalid")
        assert "tries waiting" in fourth.text
