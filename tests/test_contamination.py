"""The contamination check: one row per eval item with a near-duplicate in training, and work
that stays bounded on templated data (many near-copies), with the bound reported."""

from __future__ import annotations

from app.datasets import contamination, freezing
from app.datasets.versions import VersionFilter
from app.items.schemas import ItemDraft
from tests.dataset_factories import approved_project
from tests.helpers import login

TEMPLATE = (
    "Write a short polite reply to a customer who asks when the order number {n} will arrive "
    "and explain that the parcel left the warehouse this morning"
)


def _freeze(db_session, drafts, *, eval_fraction=0.25):
    project, admin, _ = approved_project(db_session, drafts=drafts, name="Templated")
    version = freezing.create_version(
        session=db_session,
        project=project,
        name="t",
        f=VersionFilter(),
        actor=admin,
        eval_fraction=eval_fraction,
    )
    return project, version


def test_templated_data_is_reported_once_per_eval_item_within_the_bounds(db_session):
    drafts = [
        ItemDraft(kind="task", instruction=TEMPLATE.format(n=n), output="It arrives tomorrow.")
        for n in range(24)
    ]
    project, version = _freeze(db_session, drafts)
    assert version.eval_count >= 3
    # As frozen, with the default bounds: every eval item is a near-copy of training items.
    eval_items = {row["eval_item"] for row in version.contamination}
    assert len(eval_items) == len(version.contamination) == version.eval_count
    assert all(row["similarity"] >= 0.5 and row["matches"] >= 1 for row in version.contamination)
    assert version.stats["contamination_check"]["contaminated"] == version.eval_count

    tight = contamination.check(
        db_session,
        version_id=version.id,
        project_id=project.id,
        bucket_limit=3,
        candidates_per_item=2,
    )
    # Tight bounds still find every near-copy, compare at most two candidates each, and say
    # how many eval items had candidates cut.
    assert {row["eval_item"] for row in tight.found} == eval_items
    assert tight.compared <= 2 * version.eval_count
    assert tight.capped_eval_items == version.eval_count
    assert tight.summary()["capped_eval_items"] == version.eval_count


def test_keys_held_widely_are_read_in_pages_with_the_same_result(db_session):
    drafts = [
        ItemDraft(kind="task", instruction=TEMPLATE.format(n=n), output="It arrives tomorrow.")
        for n in range(24)
    ]
    project, version = _freeze(db_session, drafts)

    def check(hot_key: int) -> contamination.Report:
        return contamination.check(
            db_session,
            version_id=version.id,
            project_id=project.id,
            bucket_limit=5,
            candidates_per_item=3,
            hot_key=hot_key,
        )

    # Every key here is held by far more than 2 items: read 2 at a time, in id order, until
    # 5 training items (and one more, to know the bucket was cut) are found.
    paged, whole = check(hot_key=2), check(hot_key=10_000)
    assert paged.found == whole.found and paged.found
    assert (paged.compared, paged.capped_eval_items) == (whole.compared, whole.capped_eval_items)
    assert paged.capped_eval_items == version.eval_count


def test_unrelated_items_are_not_reported(db_session):
    topics = [
        "Explain how tides are caused by the moon and the sun in simple words",
        "List three vegetables that grow well in a shady garden corner",
        "Translate the greeting good evening into French and Spanish",
        "Describe the rules of chess for a ten year old beginner",
        "Suggest a name for a small bakery that sells sourdough bread",
        "Summarise why sleep matters for memory in two sentences",
        "Give a short recipe for tomato soup with basil and cream",
        "Write a haiku about the first snow of winter in the mountains",
    ]
    drafts = [ItemDraft(kind="task", instruction=t, output="Here it is.") for t in topics]
    project, version = _freeze(db_session, drafts)
    assert version.eval_count >= 1
    assert version.contamination == []
    summary = version.stats["contamination_check"]
    assert summary["eval_items"] == version.eval_count
    assert summary["contaminated"] == summary["capped_eval_items"] == 0


def test_the_version_page_says_when_the_bounds_cut_candidates(client, db_session, admin_user):
    drafts = [
        ItemDraft(kind="task", instruction=TEMPLATE.format(n=n), output="It arrives tomorrow.")
        for n in range(12)
    ]
    project, version = _freeze(db_session, drafts)
    tight = contamination.check(
        db_session, version_id=version.id, project_id=project.id, bucket_limit=2
    )
    version.stats = {**version.stats, "contamination_check": tight.summary()}
    db_session.flush()
    login(client, admin_user.email)
    page = client.get(f"/datasets/{version.id}").text
    assert 'id="contamination-capped"' in page
    assert f"only the {tight.candidates_per_item} sharing the most were compared" in page
    assert "more</span>" in page  # each near-copy matches several training items
