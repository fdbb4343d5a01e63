"""LIKE wildcards in a tag filter: a dataset version frozen "with tag %" must not take every
tagged item, nor "a_b" an item tagged "axb". The filter matches the tag as written, quotes and
backslashes included, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.datasets import freezing, versions
from app.datasets.versions import VersionFilter
from app.errors import InvalidInput
from app.items.schemas import ItemDraft
from app.models import DatasetVersionItem
from tests.dataset_factories import approved_project
from tests.helpers import csrf_from, login

TAGS = ["a_b", "axb", "100%", "1000", 'say "hi"', "back\\slash", "back\\\\slash", "x"]


@pytest.fixture
def tagged(db_session):
    drafts = [
        ItemDraft(
            kind="task",
            instruction=f"Write line {i} of the poem.",
            output=f"Line {i}.",
            tags=[tag],
        )
        for i, tag in enumerate(TAGS)
    ]
    project, admin, items = approved_project(db_session, drafts=drafts, name="Tagged")
    return project, admin, {tag: item.id for tag, item in zip(TAGS, items, strict=True)}


def _frozen(db_session, project, admin, tag: str) -> set[int]:
    version = freezing.create_version(
        session=db_session,
        project=project,
        name=f"tag {tag}",
        f=VersionFilter(tags=[tag]),
        actor=admin,
        eval_fraction=0,
    )
    return set(
        db_session.scalars(
            select(DatasetVersionItem.item_id).where(DatasetVersionItem.version_id == version.id)
        )
    )


@pytest.mark.parametrize("tag", TAGS)
def test_a_tag_filter_takes_exactly_the_items_with_that_tag(db_session, tagged, tag):
    project, admin, ids = tagged
    assert _frozen(db_session, project, admin, tag) == {ids[tag]}


@pytest.mark.parametrize("wildcard", ["%", "_", "__", "%0", "a%", "%\\", '"', '%", "%'])
def test_wildcards_match_no_tag(db_session, tagged, wildcard):
    project, admin, _ids = tagged
    with pytest.raises(InvalidInput):
        _frozen(db_session, project, admin, wildcard)


def test_the_form_freezes_nothing_for_a_wildcard(client, db_session, tagged):
    project, admin, _ids = tagged
    csrf = login(client, admin.email)
    response = client.post(
        f"/projects/{project.id}/datasets",
        data={"name": "everything?", "tags": "%", "csrf_token": csrf},
    )
    assert response.status_code == 422
    assert versions.list_versions(session=db_session, project_id=project.id) == []
    page = client.get(f"/projects/{project.id}/datasets")
    assert csrf_from(page.text)
