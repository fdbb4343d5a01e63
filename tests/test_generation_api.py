"""Generation jobs over the JSON API, the test playing the worker with its own token: launch
checks, the inputs a worker reads, what its answers become (model-drafted revisions, never
overwriting an edit, never approving), the self-approval rule for the launcher, the edit ratio
an annotator's save records, and a bootstrap round's filter on hand-written candidates."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.job_paths import API_ROOT, WorkerPath
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import GenerationInput, Item, ItemRevision, Job, User
from app.reviews import service as reviews
from tests.api_helpers import bearer, member, outsider, refused
from tests.dataset_factories import approved_project
from tests.factories import join, make_token, make_user

PROMPTS = [
    "Name three rivers in Europe and say which country each flows through.",
    "Write a haiku about a quiet morning in the mountains.",
]


def _launch(client, headers, project_id, **body):
    return client.post(f"/api/v1/projects/{project_id}/generation-jobs", json=body, headers=headers)


def _claim(client, worker):
    response = client.post(
        API_ROOT + WorkerPath.CLAIM, json={"worker": "w", "kinds": ["generate"]}, headers=worker
    )
    assert response.status_code == 200, response.text
    return response.json()


def _inputs(client, worker, spec):
    url = API_ROOT + WorkerPath.INPUTS.format(job_id=spec["job_id"])
    response = client.get(url, params={"attempt": spec["attempt"]}, headers=worker)
    assert response.status_code == 200, response.text
    return response.json()["inputs"]


def _send(client, worker, spec, **batch):
    url = API_ROOT + WorkerPath.GENERATIONS.format(job_id=spec["job_id"])
    return client.post(url, json={"attempt": spec["attempt"], **batch}, headers=worker)


@pytest.fixture
def setting(db_session):
    """A project of approved tasks plus two prompts without outputs, its admin, the prompts'
    author and a worker token's headers."""
    project, admin, approved = approved_project(db_session, name="Generation API")
    author = db_session.get(User, approved[0].author_id)
    prompts = [
        items.create_item(
            session=db_session,
            project=project,
            draft=ItemDraft(kind="task", instruction=text, language="en"),
            author=author,
        )
        for text in PROMPTS
    ]
    worker = {"Authorization": f"Bearer {make_token(db_session, scope='worker', owner=None)}"}
    return project, admin, author, prompts, worker


class TestLaunch:
    def test_a_manager_launches_over_a_filter(self, client, db_session, setting):
        project, admin, _, prompts, _ = setting
        response = _launch(
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
        response = _launch(
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
        bad = _launch(client, headers, project.id, generation={"task": "draft", "top_p": 0})
        assert bad.status_code == 422
        unknown = _launch(client, headers, project.id, generation={"task": "poems"})
        assert unknown.status_code == 422
        no_model = _launch(client, headers, project.id, generation={"task": "draft"})
        refused(no_model, 422, "invalid")
        path = _launch(client, headers, project.id, generation={"task": "draft"}, base_model="/etc")
        refused(path, 422, "invalid")

    def test_only_the_projects_managers_launch(self, client, db_session, setting):
        project, _, _, _, _ = setting
        body = {"generation": {"task": "draft"}, "base_model": "tiny"}
        for role in ("annotator", "reviewer"):
            response = _launch(client, member(db_session, project, role), project.id, **body)
            assert response.status_code == 403, role
        assert _launch(client, outsider(db_session), project.id, **body).status_code == 404
        manager = _launch(client, member(db_session, project, "manager"), project.id, **body)
        assert manager.status_code == 201


class TestDrafts:
    def test_answers_become_model_drafted_revisions_for_the_launcher(
        self, client, db_session, setting
    ):
        project, admin, author, prompts, worker = setting
        _launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "draft"},
            base_model="tiny",
        )
        spec = _claim(client, worker)
        assert spec["kind"] == "generate" and spec["generation"]["task"] == "draft"
        read = _inputs(client, worker, spec)
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
        reply = _send(
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
        again = _send(
            client, worker, spec, results=[{"input_id": first["input_id"], "output": "x"}]
        )
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
        _launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "draft"},
            base_model="tiny",
        )
        spec = _claim(client, worker)
        read = {i["item_id"]: i for i in _inputs(client, worker, spec)}
        text = (
            "The Danube flows through Austria, the Rhine through Germany and the Seine "
            "through France."
        )
        _send(
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
        _launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "bootstrap", "answer": True},
            base_model="tiny",
        )
        spec = _claim(client, worker)
        seeds = _inputs(client, worker, spec)
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
        reply = _send(
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
        answer = _send(
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
        _launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "bootstrap"},
            base_model="tiny",
        )
        spec = _claim(client, worker)
        seed = _inputs(client, worker, spec)[0]
        reply = _send(client, worker, spec, results=[{"input_id": seed["input_id"], "output": "x"}])
        assert reply.json()["skipped"] == {"repeated": 1}
        assert db_session.get(Item, seed["item_id"]).drafted_job_id is None

    def test_only_the_claiming_token_reads_and_writes(self, client, db_session, setting):
        project, admin, _, _, worker = setting
        _launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "draft"},
            base_model="tiny",
        )
        spec = _claim(client, worker)
        other = {"Authorization": f"Bearer {make_token(db_session, scope='worker', owner=None)}"}
        url = API_ROOT + WorkerPath.INPUTS.format(job_id=spec["job_id"])
        assert (
            client.get(url, params={"attempt": spec["attempt"]}, headers=other).status_code == 403
        )
        assert _send(client, other, spec, results=[]).status_code == 403
        assert (
            client.get(
                url, params={"attempt": spec["attempt"]}, headers=bearer(db_session, admin)
            ).status_code
            == 403
        )


class TestProvenance:
    @pytest.fixture
    def drafted(self, client, db_session, setting):
        """The first prompt drafted by a job: (project, admin, author, drafted item, other)."""
        project, admin, author, prompts, worker = setting
        _launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "draft"},
            base_model="tiny",
            items={"item_ids": [prompts[0].id]},
        )
        spec = _claim(client, worker)
        (only,) = _inputs(client, worker, spec)
        _send(client, worker, spec, results=[{"input_id": only["input_id"], "output": "Rhine."}])
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
        _launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "draft"},
            base_model="tiny",
        )
        spec = _claim(client, worker)
        read = {i["item_id"]: i for i in _inputs(client, worker, spec)}
        items.delete_drafts(session=db_session, items=[prompts[0]], actor=author)
        db_session.flush()
        reply = _send(
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
        _launch(
            client,
            bearer(db_session, admin),
            project.id,
            generation={"task": "draft"},
            base_model="tiny",
        )
        spec = _claim(client, worker)
        read = {i["item_id"]: i for i in _inputs(client, worker, spec)}
        _send(
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
        response = _launch(
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
