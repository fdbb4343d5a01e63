"""`studio projects create`, `items history|restore`, `audit`, `stats`, `agreement` and
`duplicates` as real processes on a fresh database."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.items import service as items
from app.items.schemas import LabelIn
from app.labeling import service as labeling
from app.models import Item, Project
from tests.dataset_factories import approved_project
from tests.factories import make_user
from tests.test_cli_datasets import as_json, seeded, studio


def _project_with_labels(session: Session) -> dict:
    """Sixteen approved items, the first edited once more (back to review), and two annotators
    who gave the same kind to six items of two kinds."""
    project, admin, created = approved_project(session, name="Colours")
    first = created[0]
    draft = items.draft_of(first).model_copy(update={"output": "Il fait très beau le jour 0."})
    items.update_item(
        session=session, item_id=first.id, draft=draft, expected_version=first.version,
        editor=admin,
    )  # fmt: skip
    project.labeling_overlap = 2
    ann, bob = make_user(session), make_user(session)
    for item in created[6:12]:  # two tasks and four constraints
        for person, quality in ((ann, 4), (bob, 5)):
            labeling.submit_label(
                session=session, project=project, item=item, annotator=person,
                data=LabelIn(kind=item.kind, difficulty=2, quality=quality),
            )  # fmt: skip
    return {"project": project.id, "item": first.id, "version": first.version,
            "first_output": "Il fait beau le jour 0."}  # fmt: skip


@pytest.fixture(scope="module")
def setup(backend, tmp_path_factory):
    """One database for the module: the reports read only what the seed wrote, which the
    other test's new project and restored revision leave as it was."""
    with seeded(backend, tmp_path_factory.mktemp("misc"), _project_with_labels) as ready:
        yield ready


def test_create_a_project_and_restore_an_old_revision(setup):
    env, engine, ids = setup
    created = studio(env, "projects", "create", "Poems", "--description", "Short ones.")
    assert created.returncode == 0, created.stderr
    item = str(ids["item"])
    history = as_json(studio(env, "items", "history", item, "--json"))
    assert [r["version"] for r in history["revisions"]][-1] == 1
    newest = history["revisions"][0]
    assert "output" in newest["changed"] and history["item"]["version"] == ids["version"]
    stale = studio(env, "items", "restore", item, "1", "--expected-version", "1")
    assert stale.returncode == 1
    assert f"was saved since version 1 (it is at version {ids['version']})" in stale.stderr
    restored = studio(env, "items", "restore", item, "1")
    assert restored.returncode == 0, restored.stderr
    with Session(engine) as session:
        project = session.scalar(select(Project).where(Project.name == "Poems"))
        assert project.description == "Short ones."
        after = session.get(Item, ids["item"])
        assert (after.output, after.version) == (ids["first_output"], ids["version"] + 1)


def test_audit_stats_agreement_and_duplicates(setup):
    env, engine, ids = setup
    events = as_json(studio(env, "audit", "--action", "label.saved", "--limit", "3", "--json"))
    assert len(events["events"]) == 3 and events["more"] is True
    assert {e["entity_type"] for e in events["events"]} == {"item"}
    stats = as_json(studio(env, "stats", "Colours", "--json"))
    assert stats["by_status"] == {"approved": 15, "submitted": 1}  # the edit reopened one
    assert stats["last_30_days"]["approved"] == 16
    assert [a["written"] for a in stats["annotators"]] == [16]
    agreement = as_json(studio(env, "agreement", str(ids["project"]), "--json"))
    assert (agreement["labels"], agreement["annotators"], agreement["items"]) == (12, 2, 6)
    fields = {f["field"]: f for f in agreement["fields"]}
    assert fields["kind"]["alpha"] == 1.0
    assert fields["kind"]["pairs"][0]["kappa"] == 1.0
    assert fields["kind"]["pairs"][0]["shared_items"] == 6
    duplicates = studio(env, "duplicates", "Colours")
    assert duplicates.returncode == 0, duplicates.stderr
    # The two Chinese antonym examples share their instruction and demos.
    assert "near " in duplicates.stdout and "Give the antonym." in duplicates.stdout
