"""Rule-based augmentation as a background task (items.augment): drafts linked to their source
and written for the person who started it, the same drafts under the same seed, code,
placeholders, numbers and constraint words kept in English and Chinese, constraints kept and
the output re-checked, near-duplicates flagged, other languages skipped by reason, the start
audited, and a cancel between batches keeping what was written. On both databases."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Pause
from app.background.runner import Runner
from app.core.provenance import Origin
from app.db import begin_for_write
from app.errors import InvalidInput
from app.items import augment_task
from app.items import service as items
from app.items.augment_recipe import Recipe, copy_seed
from app.items.repository import ItemFilter
from app.items.schemas import ItemDraft
from app.models import AuditEvent, BackgroundTask, Item
from app.projects import service as projects
from app.projects.service import ProjectInput
from app.tasks import KINDS
from tests.factories import join, make_user

BATCH = 2
KEEP_RIVER = [{"id": "keywords:existence", "params": {"keywords": ["river"]}}]
KEEP_CHANGJIANG = [{"id": "keywords:existence", "params": {"keywords": ["长江"]}}]
ENGLISH = (
    "Write a short poem about the quiet river near {city}, in 3 lines, and explain why "
    "`print(x)` shows the value; cite https://example.org/rivers when you describe it."
)
CHINESE = "请用三句话描写{城市}附近安静的长江，并解释为什么`print(x)`会显示数值，写作时间为2024年。"


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"background_batch_rows": BATCH})


@pytest.fixture
def manager(db_session):
    return make_user(db_session, role="annotator", email="mia@example.org")


@pytest.fixture
def project(db_session, admin_user, manager):
    project = projects.create_project(
        session=db_session, data=ProjectInput(name="Augment"), actor=admin_user
    )
    join(db_session, project, manager, role="manager")
    return project


def make(session, project, author, instruction, *, output="An answer.", **fields):
    kind = fields.pop("kind", "constraint" if fields.get("constraints") else "task")
    draft = ItemDraft(kind=kind, instruction=instruction, output=output, **fields)
    return items.create_item(session=session, project=project, draft=draft, author=author)


def start(session, project, actor, *, ids=(), **recipe):
    return augment_task.start(
        session=session,
        project=project,
        f=ItemFilter(project_id=project.id, item_ids=tuple(ids)),
        recipe=Recipe(**{"operation": "synonym_replacement", "seed": 11, **recipe}),
        actor=actor,
    )


def drafts_of(session, source_ids) -> list[Item]:
    rows = session.scalars(select(Item).where(Item.origin == Origin.augmented).order_by(Item.id))
    return [item for item in rows if item.provenance["item_id"] in source_ids]


def finished(session, task_id) -> BackgroundTask:
    task = session.get(BackgroundTask, task_id)
    session.refresh(task)
    assert task.state == "done", task.error
    return task


class TestDrafts:
    def test_the_drafts_link_their_source_and_belong_to_the_launcher(
        self, db_session, project, manager, admin_user, run_tasks
    ):
        source = make(db_session, project, admin_user, ENGLISH, constraints=KEEP_RIVER)
        task = start(db_session, project, manager, copies=3)
        assert (task.kind, task.state, task.total) == ("items.augment", "queued", 1)
        assert run_tasks() == [task.id]
        task = finished(db_session, task.id)
        made = drafts_of(db_session, {source.id})
        assert task.result["written"] == len(made) == 3
        assert task.result["items"] == 1 and task.result["seed"] == 11
        for copy, item in enumerate(made):
            assert (item.author_id, item.status, item.kind) == (manager.id, "draft", "constraint")
            assert item.provenance["method"] == "synonym_replacement"
            assert item.provenance["seed"] == copy_seed(11, source.id, copy)
            assert item.instruction != source.instruction
            assert item.output == source.output and item.constraints == source.constraints
        created = select(AuditEvent).where(AuditEvent.action == "item.created")
        made_ids = {str(i.id) for i in made}
        by_launcher = [e for e in db_session.scalars(created) if e.entity_id in made_ids]
        assert {e.actor_id for e in by_launcher} == {manager.id} and len(by_launcher) == 3

    def test_the_same_seed_writes_the_same_drafts_and_another_seed_others(
        self, db_session, project, manager, test_data, run_tasks
    ):
        lines = (test_data / "seed_tasks.jsonl").read_text().splitlines()[:6]
        sources = []
        for line in lines:
            task = json.loads(line)
            sources.append(
                make(
                    db_session, project, manager, task["instruction"],
                    input=task["instances"][0]["input"],
                    output=task["instances"][0]["output"] or "-", language="en",
                )
            )  # fmt: skip
        ids = {s.id for s in sources}

        def texts(seed):
            before = {i.id for i in drafts_of(db_session, ids)}
            start(db_session, project, manager, ids=ids, seed=seed, copies=2, fields=FIELDS)
            run_tasks()
            made = [i for i in drafts_of(db_session, ids) if i.id not in before]
            return [(i.provenance["item_id"], i.instruction, i.input) for i in made]

        FIELDS = ("instruction", "input")
        first, again, other = texts(5), texts(5), texts(6)
        assert first and first == again
        assert other != first

    @pytest.mark.parametrize("operation", ["synonym_replacement", "random_insertion",
                                           "random_swap", "random_deletion"])  # fmt: skip
    def test_code_placeholders_numbers_and_constraint_words_are_kept(
        self, db_session, project, manager, run_tasks, operation
    ):
        english = make(db_session, project, manager, ENGLISH, constraints=KEEP_RIVER, language="en")
        chinese = make(
            db_session, project, manager, CHINESE, output="长江很安静。",
            constraints=KEEP_CHANGJIANG, language="zh",
        )  # fmt: skip
        start(db_session, project, manager, operation=operation, rate=0.5, copies=5)
        run_tasks()
        made = drafts_of(db_session, {english.id, chinese.id})
        assert {i.provenance["item_id"] for i in made} == {english.id, chinese.id}
        for item in made:
            if item.provenance["item_id"] == english.id:
                kept = ("{city}", "3", "`print(x)`", "https://example.org/rivers", "river")
            else:
                kept = ("{城市}", "三", "长江", "`print(x)`", "2024")
            for text in kept:
                assert text in item.instruction, (operation, item.instruction)

    def test_constraints_are_kept_and_the_output_rechecked(
        self, db_session, project, manager, run_tasks
    ):
        fails = make(
            db_session, project, manager, ENGLISH, output="Water runs by.", constraints=KEEP_RIVER
        )
        passes = make(
            db_session, project, manager, ENGLISH.replace("quiet", "calm"),
            output="The river runs by.", constraints=KEEP_RIVER,
        )  # fmt: skip
        start(db_session, project, manager)
        run_tasks()
        (failing,) = drafts_of(db_session, {fails.id})
        (passing,) = drafts_of(db_session, {passes.id})
        assert failing.constraints == fails.constraints == passing.constraints
        assert failing.provenance["failed_checks"] == ["keywords:existence"]
        assert "failed_checks" not in passing.provenance

    def test_a_copy_close_to_its_source_is_flagged_as_a_near_duplicate(
        self, db_session, project, manager, run_tasks
    ):
        source = make(db_session, project, manager, ENGLISH, language="en")
        start(db_session, project, manager, rate=0.05)
        run_tasks()
        (draft,) = drafts_of(db_session, {source.id})
        assert draft.provenance["near_duplicate_of"] == source.id

    def test_other_languages_and_copies_that_change_nothing_are_skipped_by_reason(
        self, db_session, project, manager, run_tasks
    ):
        french = make(
            db_session, project, manager, "Écrivez un court poème sur la rivière tranquille.",
            language="fr",
        )  # fmt: skip
        nothing = make(db_session, project, manager, "{name}: 42", language="en")
        english = make(db_session, project, manager, ENGLISH, language="en")
        task = start(db_session, project, manager, copies=2)
        assert task.total == 3  # counted, then skipped as it runs
        run_tasks()
        task = finished(db_session, task.id)
        assert task.result["skipped"] == {
            "language": 1, "unchanged": 2, "repeated": 0, "invalid": 0
        }  # fmt: skip
        assert task.result["written"] == 2 and task.result["items"] == 3
        assert not drafts_of(db_session, {french.id, nothing.id})
        assert len(drafts_of(db_session, {english.id})) == 2

    def test_rejected_items_conversations_and_later_drafts_are_not_read(
        self, db_session, project, manager, admin_user, run_tasks
    ):
        kept = make(db_session, project, manager, ENGLISH, language="en")
        rejected = make(db_session, project, manager, ENGLISH.replace("poem", "song"))
        rejected.status = "rejected"
        db_session.flush()
        task = start(db_session, project, manager, copies=2)
        assert task.total == 1
        run_tasks()
        # The drafts it wrote match its filter (every item) but came after it was queued.
        assert finished(db_session, task.id).result["items"] == 1
        assert len(drafts_of(db_session, {kept.id})) == 2
        assert not drafts_of(db_session, {rejected.id})


class TestStart:
    def test_the_start_is_audited_with_the_recipe(self, db_session, project, manager):
        item = make(db_session, project, manager, ENGLISH)
        task = start(db_session, project, manager, ids=[item.id], copies=2, rate=0.2)
        event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "task.queued"))
        assert (event.entity_id, event.actor_id) == (str(task.id), manager.id)
        assert event.after["kind"] == "items.augment" and event.after["items"] == 1
        assert event.after["operation"] == "synonym_replacement"
        assert (event.after["copies"], event.after["rate"], event.after["seed"]) == (2, 0.2, 11)
        assert event.after["item_ids"] == [item.id]

    def test_no_seed_draws_one_and_keeps_it(self, db_session, project, manager):
        make(db_session, project, manager, ENGLISH)
        task = start(db_session, project, manager, seed=None)
        assert isinstance(task.payload["recipe"]["seed"], int)

    @pytest.mark.parametrize(
        ("recipe", "field", "message"),
        [
            ({"operation": "shuffle"}, "operation", "There is no augmentation called shuffle."),
            ({"rate": 0}, "rate", "above 0 and at most 1; it is 0."),
            ({"rate": 1.5}, "rate", "above 0 and at most 1; it is 1.5."),
            ({"copies": 6}, "copies", "Each item gets 1 to 5 new drafts; 6 is out of range."),
            ({"fields": ("input",)}, "fields", "rewrites the instruction"),
            ({"seed": -1}, "seed", "The seed is a whole number"),
        ],
    )
    def test_a_bad_recipe_is_refused_with_a_sentence(
        self, db_session, project, manager, recipe, field, message
    ):
        make(db_session, project, manager, ENGLISH)
        with pytest.raises(InvalidInput) as refused:
            start(db_session, project, manager, **recipe)
        assert message in refused.value.text and field in refused.value.errors
        assert not db_session.scalar(select(func.count()).select_from(BackgroundTask))

    def test_nothing_to_augment_is_refused(self, db_session, project, manager):
        make(db_session, project, manager, ENGLISH, kind="preference", rejected="Worse.")
        with pytest.raises(InvalidInput, match="No item matches to augment"):
            start(db_session, project, manager)


# -- between batches: cancel and resume, with real commits ---------------------------------------


def _queued(engine, n: int) -> tuple[int, int]:
    """A committed project with ``n`` English items and a queued augmentation of them."""
    with Session(engine, expire_on_commit=False) as session:
        begin_for_write(session)
        admin = make_user(session, role="admin")
        project = projects.create_project(
            session=session, data=ProjectInput(name=f"Augment {id(engine)}"), actor=admin
        )
        for n_ in range(n):
            make(session, project, admin, ENGLISH.replace("3 lines", f"{n_ + 3} lines"))
        task = start(session, project, admin)
        session.commit()
        return project.id, task.id


def _runner(engine, **options) -> Runner:
    return Runner(
        lambda: Session(engine, expire_on_commit=False), KINDS, batch_rows=BATCH, **options
    )


def _task(engine, task_id: int) -> BackgroundTask:
    with Session(engine) as session:
        return session.get(BackgroundTask, task_id)


def _written(engine, project_id: int) -> int:
    with Session(engine) as session:
        augmented = (Item.project_id == project_id, Item.origin == Origin.augmented)
        return session.scalar(select(func.count()).select_from(Item).where(*augmented))


def _wait_for_batches(engine, task_id: int, batches: int) -> None:
    deadline = time.monotonic() + 60  # a hang guard, not a timing
    while _task(engine, task_id).checkpoint.get("batches", 0) < batches:
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def test_a_cancel_stops_between_batches_keeping_the_drafts_written(committed):
    project_id, task_id = _queued(committed, 5)
    runner = _runner(committed, pause=Pause(after_batch=1, seconds=30))
    worker = threading.Thread(target=runner.run_one, kwargs={"heartbeat": True})
    worker.start()
    try:
        _wait_for_batches(committed, task_id, 1)
        with Session(committed) as session:
            begin_for_write(session)
            queue.request_cancel(session, task=session.get(BackgroundTask, task_id), actor=None)
            session.commit()
    finally:
        runner.stop()
        worker.join(60)
    if _task(committed, task_id).state == "queued":  # the stop won: handed back, then cancelled
        _runner(committed).run_one()
    task = _task(committed, task_id)
    assert (task.state, task.done, task.total) == ("cancelled", BATCH, 5)
    assert _written(committed, project_id) == BATCH


def test_a_task_handed_back_goes_on_after_its_last_batch(committed):
    project_id, task_id = _queued(committed, 5)
    first = _runner(committed, pause=Pause(after_batch=1, seconds=60))
    worker = threading.Thread(target=first.run_one, kwargs={"heartbeat": True})
    worker.start()
    _wait_for_batches(committed, task_id, 1)
    first.stop()
    worker.join(60)
    assert _task(committed, task_id).state == "queued"
    assert _runner(committed).run_one() == task_id
    task = _task(committed, task_id)
    assert task.state == "done" and task.checkpoint["batches"] == 3  # 2 + 2 + 1
    assert task.result["written"] == 5 == _written(committed, project_id)  # each item once
