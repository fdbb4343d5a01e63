"""The review queue: who is served which item next (reopened, resubmitted, oldest first),
leases, skipping and filters."""

from __future__ import annotations

from app.items import service as items
from app.reviews import service
from app.reviews.service import QueueFilter
from tests.factories import join, make_user
from tests.helpers import login
from tests.review_factories import DRAFT, make_item, make_project


class TestQueue:
    def test_reopened_item_comes_first_with_its_reason(self, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=[author, reviewer])
        older = make_item(db_session, project, author, text="An older submission to review.")
        flagged = make_item(db_session, project, author, text="An approved item, flagged later.")
        service.decide(
            session=db_session,
            item_id=flagged.id,
            reviewer=reviewer,
            decision="approve",
            version=flagged.version,
        )
        service.reopen(
            session=db_session,
            item_id=flagged.id,
            actor=admin_user,
            reason="flagged_by_training",
            comment="high loss",
            link="/jobs/7",
        )
        other = make_user(db_session, role="reviewer")
        join(db_session, project, other)
        claimed = service.claim_next(
            session=db_session, reviewer=other, f=QueueFilter(project_id=project.id)
        )
        assert claimed.id == flagged.id
        assert claimed.reopen_reason == "flagged_by_training: high loss"
        assert claimed.reopen_link == "/jobs/7"
        assert older.id != claimed.id

    def test_resubmission_goes_first_to_the_reviewer_who_asked(self, db_session, admin_user):
        author = make_user(db_session)
        asker, other = (
            make_user(db_session, role="reviewer"),
            make_user(db_session, role="reviewer"),
        )
        project = make_project(db_session, admin_user, members=[author, asker, other])
        first = make_item(db_session, project, author, text="First in line for review today.")
        sent_back = make_item(db_session, project, author, text="Needs another pass by asker.")
        service.decide(
            session=db_session,
            item_id=sent_back.id,
            reviewer=asker,
            decision="request_changes",
            version=sent_back.version,
            reason="other",
        )
        items.update_item(
            session=db_session,
            item_id=sent_back.id,
            draft=DRAFT,
            expected_version=sent_back.version,
            editor=author,
            submit=True,
        )
        assert (
            service.claim_next(
                session=db_session, reviewer=asker, f=QueueFilter(project_id=project.id)
            ).id
            == sent_back.id
        )
        assert (
            service.claim_next(
                session=db_session, reviewer=other, f=QueueFilter(project_id=project.id)
            ).id
            == first.id
        )

    def test_leased_item_is_not_served_twice_until_the_lease_expires(self, db_session, admin_user):
        from datetime import timedelta

        from sqlalchemy import update

        from app.models import Item
        from app.models.base import utcnow

        author = make_user(db_session)
        a, b = make_user(db_session, role="reviewer"), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=[author, a, b])
        only = make_item(db_session, project, author)
        f = QueueFilter(project_id=project.id)
        assert service.claim_next(session=db_session, reviewer=a, f=f).id == only.id
        assert service.claim_next(session=db_session, reviewer=b, f=f) is None
        db_session.execute(
            update(Item)
            .where(Item.id == only.id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
        assert service.claim_next(session=db_session, reviewer=b, f=f).id == only.id

    def test_oldest_first_whichever_way_it_was_submitted(self, db_session, admin_user):
        # Submitted as it was written (no submitted_at) or later from a draft: the older
        # submission comes first on both databases, and its decision times the wait.
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=[author, reviewer])
        at_once = make_item(db_session, project, author, text="Written and submitted at once.")
        later = make_item(
            db_session, project, author, text="Written as a draft, submitted later.", submit=False
        )
        items.bulk_submit(
            session=db_session, project_id=project.id, item_ids=[later.id], actor=author
        )
        f = QueueFilter(project_id=project.id)
        claimed = service.claim_next(session=db_session, reviewer=reviewer, f=f)
        assert claimed.id == at_once.id
        review = service.decide(
            session=db_session,
            item_id=at_once.id,
            reviewer=reviewer,
            decision="approve",
            version=claimed.version,
        )
        assert review.submitted_at is not None

    def test_skip_serves_the_next_item_and_wraps_round(self, client, db_session, admin_user):
        author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
        project = make_project(db_session, admin_user, members=[author, reviewer])
        ids = [
            make_item(db_session, project, author, text=f"Queue item number {n} to skip.").id
            for n in range(3)
        ]
        csrf = login(client, reviewer.email)
        at = client.post(f"/projects/{project.id}/review/next", data={"csrf_token": csrf})
        seen = [at.headers["location"]]
        for _ in range(3):
            current = int(seen[-1].split("/")[2])
            at = client.post(f"/items/{current}/skip", data={"csrf_token": csrf})
            seen.append(at.headers["location"])
        assert seen == [f"/items/{i}/review" for i in (*ids, ids[0])]
        other = make_user(db_session, role="reviewer")
        join(db_session, project, other)
        f = QueueFilter(project_id=project.id)
        # Skipping gives each item back: only the one now open is held.
        assert service.claim_next(session=db_session, reviewer=other, f=f).id == ids[1]

    def test_filters_by_kind_domain_author_tag_and_reason(self, db_session, admin_user):
        from sqlalchemy import update

        from app.models import Item

        a, b = make_user(db_session), make_user(db_session)
        reviewer, second = (
            make_user(db_session, role="reviewer"),
            make_user(db_session, role="reviewer"),
        )
        project = make_project(db_session, admin_user, members=[a, b, reviewer, second])
        plain = make_item(db_session, project, a, text="A plain item with nothing special.")
        tagged = make_item(db_session, project, a, text="An item tagged in Chinese for maths.")
        by_b = make_item(db_session, project, b, text="An item written by the second author.")
        flagged = make_item(db_session, project, a, text="An item that training flagged later.")
        db_session.execute(
            update(Item).where(Item.id == tagged.id).values(tags=["数学", "a_b"], domain="math")
        )
        service.decide(
            session=db_session,
            item_id=flagged.id,
            reviewer=second,
            decision="approve",
            version=flagged.version,
        )
        service.reopen(session=db_session, item_id=flagged.id, actor=admin_user, reason="unsafe")

        def first(**kw):
            claimed = service.claim_next(
                session=db_session, reviewer=reviewer, f=QueueFilter(project_id=project.id, **kw)
            )
            if claimed is not None:
                service.release(session=db_session, item_id=claimed.id, reviewer=reviewer)
            return claimed.id if claimed else None

        assert first() == plain.id
        assert first(tag="数学") == tagged.id
        assert first(tag="a_b") == tagged.id
        assert first(tag="aXb") is None  # "_" is a character, not a wildcard
        assert first(domain="math") == tagged.id
        assert first(author_id=b.id) == by_b.id
        assert first(reason="unsafe") == flagged.id
        assert first(kind="example") is None


def test_skip_goes_down_the_tiers_then_wraps_to_the_top(db_session, admin_user):
    """Reopened by training (tier 2), then two plain submissions (tier 3): skipping walks the
    flagged item, then the plain ones oldest first, then starts again at the flagged one."""
    author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
    approver = make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user, members=[author, reviewer, approver])
    plain = [
        make_item(db_session, project, author, text=f"Plain submission number {n}.").id
        for n in range(2)
    ]
    flagged = make_item(db_session, project, author, text="Approved, then flagged by training.")
    service.decide(
        session=db_session,
        item_id=flagged.id,
        reviewer=approver,
        decision="approve",
        version=flagged.version,
    )
    service.reopen(
        session=db_session, item_id=flagged.id, actor=admin_user, reason="flagged_by_training"
    )
    f = QueueFilter(project_id=project.id)
    served = [service.claim_next(session=db_session, reviewer=reviewer, f=f)]
    for _ in range(3):
        served.append(
            service.claim_next(session=db_session, reviewer=reviewer, f=f, after=served[-1])
        )
    assert [item.id for item in served] == [flagged.id, *plain, flagged.id]
