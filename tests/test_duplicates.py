"""Near-duplicate clusters in a project: found, shown, and resolved by keeping one."""

from __future__ import annotations

from sqlalchemy import select

from app.datasets import duplicates
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import Review
from app.reviews import service as reviews
from tests.dataset_factories import make_duplicates
from tests.factories import make_user
from tests.helpers import login
from tests.review_factories import make_project


def test_duplicate_clusters_and_keep_one(client, db_session):
    admin = make_user(db_session, role="admin")
    author = make_user(db_session)
    project = make_project(db_session, admin, name="Dups", members=[author])
    near, same = make_duplicates(db_session, project, author)
    items.create_item(
        session=db_session,
        project=project,
        author=author,
        draft=ItemDraft(kind="task", instruction="Unrelated: count to three.", output="1 2 3"),
    )
    exact = duplicates.exact_clusters(db_session, project.id)
    assert [[i.id for i in c.items] for c in exact] == [[same[0].id, same[1].id]]
    close = duplicates.near_clusters(db_session, project.id)
    assert [[i.id for i in c.items] for c in close] == [[near[0].id, near[1].id]]
    csrf = login(client, admin.email)
    assert 'data-kind="near"' in client.get(f"/projects/{project.id}/duplicates").text
    response = client.post(
        f"/projects/{project.id}/duplicates/resolve",
        data={"csrf_token": csrf, "keep": near[1].id, "members": [near[0].id, near[1].id]},
    )
    assert response.status_code == 303
    db_session.refresh(near[0])
    db_session.refresh(near[1])
    assert (near[0].status, near[1].status) == ("rejected", "submitted")
    assert duplicates.near_clusters(db_session, project.id) == []


def test_rejecting_a_duplicate_after_approving_it_once(db_session):
    """Under a two-approval policy an admin's approval leaves the item submitted; rejecting it
    as a duplicate afterwards must not write a second decision on the same version."""
    admin = make_user(db_session, role="admin")
    author = make_user(db_session)
    project = make_project(db_session, admin, name="Two approvals", members=[author])
    project.approvals_needed = 2
    kept, dup = (
        items.create_item(
            session=db_session,
            project=project,
            author=author,
            submit=True,
            draft=ItemDraft(kind="task", instruction="Say hello politely.", output="Hello."),
        )
        for _ in range(2)
    )
    assert dup.submitted_at is not None  # created as submitted: the round starts now
    reviews.decide(
        session=db_session, item_id=dup.id, reviewer=admin, decision="approve", version=dup.version
    )
    assert dup.status == "submitted"
    done = duplicates.resolve(
        session=db_session, project_id=project.id, keep=kept.id, reject=[dup.id], actor=admin
    )
    assert done == 1 and dup.status == "rejected"
    decisions = db_session.scalars(select(Review.decision).where(Review.item_id == dup.id)).all()
    assert decisions == ["approve"]
