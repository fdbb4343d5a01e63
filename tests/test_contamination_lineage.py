"""The contamination check for model-made training items (``app.datasets.lineage``): an
augmented item made from an eval item, however many steps back, and a generated instruction
within ROUGE-L 0.7 of an eval instruction are reported; unrelated ones are not."""

from __future__ import annotations

from sqlalchemy import select, update

from app.core.provenance import Origin, Provenance
from app.datasets import export, freezing, lineage
from app.datasets.versions import VersionFilter
from app.items import derived
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import DatasetVersionItem, ItemRevision
from tests.dataset_factories import approved_project


def _split(db_session, version, ids, split):
    db_session.execute(
        update(DatasetVersionItem)
        .where(DatasetVersionItem.version_id == version.id, DatasetVersionItem.item_id.in_(ids))
        .values(split=split)
    )


def test_model_made_training_items_close_to_eval_items_are_reported(db_session):
    project, admin, approved = approved_project(db_session, name="Lineage")
    a, b, c, d, e = approved[:5]
    x = derived.derive(
        db_session,
        source=a,
        changes={"instruction": "Put sentence 0 into French, please."},
        method="paraphrase",
        author=admin,
    )
    y = derived.derive(
        db_session,
        source=x,
        changes={"instruction": "Render sentence zero in French."},
        method="synonym_replacement",
        author=admin,
    )
    unrelated = derived.derive(
        db_session,
        source=c,
        changes={"instruction": "Say sentence 2 in German instead."},
        method="paraphrase",
        author=admin,
    )
    # Two copies of D, one to be held out; and E held out, made from a training item.
    d_eval = derived.derive(
        db_session,
        source=d,
        changes={"instruction": "Rewrite sentence 3 in French."},
        method="paraphrase",
        author=admin,
    )
    d_train = derived.derive(
        db_session,
        source=d,
        changes={"instruction": "French, please: sentence three."},
        method="back_translate",
        author=admin,
    )
    e_eval = derived.derive(
        db_session,
        source=e,
        changes={"instruction": "Sentence four, in French."},
        method="paraphrase",
        author=admin,
    )
    # A generated instruction that is B's with one word changed (ROUGE-L well above 0.7).
    generated = items.create_item(
        session=db_session,
        project=project,
        author=admin,
        draft=ItemDraft(kind="task", instruction=b.instruction.replace("Translate", "Turn")),
        provenance=Provenance(origin=Origin.generated, round=1),
    )
    version = freezing.create_version(
        session=db_session,
        project=project,
        name="v",
        actor=admin,
        eval_fraction=0.0,
        f=VersionFilter(statuses=["approved", "draft"]),
    )
    _split(db_session, version, [a.id, b.id, d_eval.id, e_eval.id], "eval")
    rows = db_session.execute(
        select(DatasetVersionItem.item_id, ItemRevision.snapshot)
        .join(ItemRevision, ItemRevision.id == DatasetVersionItem.revision_id)
        .where(DatasetVersionItem.version_id == version.id)
    ).all()
    found = lineage.check(
        db_session, version_id=version.id, project_id=project.id, snapshots=dict(rows)
    )
    pairs = {(f["eval_item"], f["train_item"], f["via"]) for f in found}
    assert pairs == {
        (a.id, x.id, "source"),
        (a.id, y.id, "source"),  # two steps back
        (d_eval.id, d.id, "source"),  # the held-out copy's own source trains
        (d_eval.id, d_train.id, "source"),  # two copies of one source
        (e_eval.id, e.id, "source"),  # a held-out copy of a training item
        (b.id, generated.id, "instruction"),
    }
    assert unrelated.id not in {f["train_item"] for f in found}
    similar = next(f for f in found if f["via"] == "instruction")
    assert 0.7 <= similar["similarity"] < 1.0


def test_a_freeze_reports_them_with_the_near_duplicates(db_session):
    project, admin, approved = approved_project(db_session, name="Lineage freeze")
    made = [
        derived.derive(
            db_session,
            source=item,
            # Too few shared shingles for the near-duplicate check to see: lineage finds them.
            changes={"instruction": f"Entirely other words, number {n}: {'x' * (n + 3)}."},
            method="paraphrase",
            author=admin,
        )
        for n, item in enumerate(approved)
    ]
    version = freezing.create_version(
        session=db_session,
        project=project,
        name="v",
        actor=admin,
        eval_fraction=0.3,
        f=VersionFilter(statuses=["approved", "draft"]),
    )
    splits = dict(
        db_session.execute(
            select(DatasetVersionItem.item_id, DatasetVersionItem.split).where(
                DatasetVersionItem.version_id == version.id
            )
        ).all()
    )
    expected = {
        (source.id, copy.id)
        for source, copy in zip(approved, made, strict=True)
        if splits[source.id] == "eval" and splits[copy.id] == "train"
    }
    assert expected  # the split put some sources in eval and their copies in train
    reported = {(c["eval_item"], c["train_item"]): c for c in version.contamination}
    assert expected <= set(reported)
    assert {reported[pair].get("via") for pair in expected} == {"source"}
    assert version.stats["contamination_check"]["model_made"] >= len(expected)
    card = export.dataset_card(db_session, version, "alpaca_json")
    assert "- Made: augmented 50.0%, written 50.0%; outputs drafted by a model: 0.0%" in card
