"""Rule-based augmentation (EDA) over the items matching the item list's filter, or the items
chosen there, as a background task: every task, constraint and example that is not rejected
and is written in English or Chinese gets up to five new drafts, each with its instruction (and
its input, when asked) rewritten by one operation of ``app.core.augment``. Each draft is made
by ``derived.derive``: linked to its source with the operation and its seed, the source's
constraints kept, its output re-checked and near-duplicates flagged; its author is the person
who started the task.

Like the bulk actions (``bulk_task``), the task reads the matches in id order up to the highest
matching id when it was queued, so it never augments the drafts it writes itself; a committed
batch at a time, the last id done as the checkpoint, so a resumed attempt goes on after the
last committed batch and a cancel stops it between batches. How one item is rewritten, and
with which seed, is ``augment_recipe``'s."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Kind, TaskContext
from app.core.augment import SUPPORTED_LANGUAGES, AugmentError, ensure_language
from app.core.generation import AUGMENTABLE_KINDS
from app.core.status import ItemStatus
from app.errors import Forbidden, InvalidInput
from app.i18n import N_
from app.items import bulk_task, derived, repository
from app.items.augment_recipe import Recipe, copy_seed, language_of, rewrite
from app.items.repository import ItemFilter
from app.models import BackgroundTask, Item, Project, User

KIND = "items.augment"
PHASE = "augmenting"
# The most items one task reads (as a generation job): at five copies, 100,000 drafts.
MAX_ITEMS = 20_000
# Items per committed batch: each writes up to five drafts with a near-duplicate probe each, so
# far fewer than the bulk actions' rows, to keep a cancel prompt and a transaction short.
BATCH_ITEMS = 100
# Why nothing was written: an item in neither language (counted per item), or a copy that
# changed nothing, repeated an earlier copy of its item, or made an invalid item.
SKIP_REASONS = ("language", "unchanged", "repeated", "invalid")

NOTHING_TO_AUGMENT = N_(
    "No item matches to augment: augmentation rewrites tasks, constraints and examples "
    "that are not rejected."
)
MEMBERS_ONLY = N_("Only the project's members can change its items.")


def eligible() -> list:
    """What an item must be to be augmented, as SQL conditions."""
    return [Item.status != ItemStatus.rejected, Item.kind.in_(AUGMENTABLE_KINDS)]


def qualifying(session: Session, f: ItemFilter, *conditions: Any, limit: int) -> list[int]:
    """Ids of the items the filter (and its chosen ids) matches that may be augmented."""
    rows = repository.matching_versions(session, f, *eligible(), *conditions, limit=limit)
    return [item_id for item_id, _version in rows]


def count_qualifying(session: Session, f: ItemFilter, *conditions: Any, cap: int) -> int:
    """How many items :func:`qualifying` would answer, counted up to ``cap``."""
    return repository.count_matching(session, f, *eligible(), *conditions, cap=cap)


def in_language(code: str):
    """Items stored in ``code`` (``zh`` takes langdetect's ``zh-cn`` and ``zh-tw``)."""
    return or_(Item.language == code, Item.language.like(f"{code}-%"))


def in_languages():
    """Items in a language augmentation supports."""
    return or_(*(in_language(code) for code in SUPPORTED_LANGUAGES))


def recent(session: Session, project_id: int, *, limit: int) -> list[BackgroundTask]:
    """The project's latest augmentation tasks, newest first."""
    return list(
        session.scalars(
            select(BackgroundTask)
            .where(BackgroundTask.project_id == project_id, BackgroundTask.kind == KIND)
            .order_by(BackgroundTask.id.desc())
            .limit(limit)
        )
    )


def scope(session: Session, project: Project, f: ItemFilter, actor: User) -> ItemFilter:
    """The filter as ``actor`` sees the project (only its members may augment its items)."""
    return bulk_task.as_seen_by(session, project, f, actor)


def start(
    *, session: Session, project: Project, f: ItemFilter, recipe: Recipe, actor: User
) -> BackgroundTask:
    """Check the recipe, that some item qualifies and that the thesaurus of each language
    among them is installed, then queue the task."""
    recipe = recipe.checked()
    f = scope(session, project, f, actor)
    ids = qualifying(session, f, limit=MAX_ITEMS + 1)
    if not ids:
        raise InvalidInput(NOTHING_TO_AUGMENT, errors={"items": NOTHING_TO_AUGMENT})
    if len(ids) > MAX_ITEMS:
        raise InvalidInput(
            N_(
                "%(count)s or more items match; one augmentation task reads at most %(max)s. "
                "Narrow the filter, or start several tasks."
            ),
            count=MAX_ITEMS + 1,
            max=MAX_ITEMS,
            errors={"items": N_("Too many items.")},
        )
    for code in SUPPORTED_LANGUAGES:
        if qualifying(session, f, in_language(code), limit=1):
            try:
                ensure_language(code)
            except AugmentError as missing:
                raise InvalidInput(missing.message, **missing.params) from None
    stored = bulk_task.stored_filter(f)
    chosen = list(f.item_ids)
    settings = asdict(recipe) | {"fields": list(recipe.fields)}
    return queue.enqueue(
        session,
        kind=KIND,
        project_id=project.id,
        payload={
            "recipe": settings,
            "filter": stored,
            "item_ids": chosen,
            "last_id": ids[-1],
            "total": len(ids),
            "actor_id": actor.id,
        },
        actor=actor,
        total=len(ids),
        details={**settings, "filter": stored, "item_ids": chosen, "items": len(ids)},
    )


def run(session: Session, ctx: TaskContext) -> dict[str, Any]:
    """The qualifying items in id order, a committed batch at a time, from the last batch an
    earlier attempt committed."""
    payload, done = ctx.payload, dict(ctx.checkpoint)
    if done.get("finished"):  # cancelled or stopped just after its last batch
        return _result(payload, done)
    actor = session.get(User, payload["actor_id"])
    if actor is None:
        raise Forbidden(MEMBERS_ONLY)
    project = session.get(Project, ctx.project_id)
    f = bulk_task.filter_of(project.id, payload["filter"])
    f = scope(session, project, replace(f, item_ids=tuple(payload["item_ids"])), actor)
    recipe = Recipe(**{**payload["recipe"], "fields": tuple(payload["recipe"]["fields"])})
    after, total = done.get("last_id", 0), payload["total"]
    written, seen = done.get("written", 0), done.get("items", 0)
    skipped = Counter(done.get("skipped", {}))
    size = max(1, min(ctx.batch_rows, BATCH_ITEMS))
    ctx.progress(PHASE, seen, total)
    while True:
        upto = (Item.id > after, Item.id <= payload["last_id"])
        ids = qualifying(session, f, *upto, limit=size)
        batch = session.scalars(select(Item).where(Item.id.in_(ids)).order_by(Item.id)).all()
        for item in batch:
            written += augment_item(
                session, item=item, recipe=recipe, author=actor, skipped=skipped
            )
        seen += len(batch)
        after = ids[-1] if ids else after
        done = {
            "last_id": after,
            "written": written,
            "items": seen,
            "skipped": dict(skipped),
            "finished": len(ids) < size,
        }
        ctx.commit(session, done, PHASE, seen, max(total, seen))
        if done["finished"]:
            return _result(payload, done)


def augment_item(
    session: Session, *, item: Item, recipe: Recipe, author: User, skipped: Counter
) -> int:
    """Write ``recipe.copies`` drafts from ``item``: how many were written (the others are
    counted in ``skipped`` by reason)."""
    language = language_of(item)
    if language is None:
        skipped["language"] += 1
        return 0
    seen: set[tuple[tuple[str, str], ...]] = set()
    written = 0
    for copy in range(recipe.copies):
        changes = rewrite(item, recipe, copy, language)
        key = tuple(sorted(changes.items()))
        reason = "unchanged" if not changes else "repeated" if key in seen else None
        if reason is None:
            seen.add(key)
            made = derived.derive(
                session, source=item, changes=changes, method=recipe.operation,
                author=author, seed=copy_seed(recipe.seed, item.id, copy),
            )  # fmt: skip
            reason = "invalid" if made is None else None
        if reason:
            skipped[reason] += 1
        else:
            written += 1
    return written


def preview(session: Session, f: ItemFilter, recipe: Recipe, *, limit: int) -> list[tuple]:
    """(item, its first copy's changes) for the first ``limit`` qualifying items in English
    or Chinese, as the task would write them; none when the recipe or a thesaurus fails."""
    try:
        recipe = recipe.checked()
        ids = qualifying(session, f, in_languages(), limit=limit)
        items = session.scalars(select(Item).where(Item.id.in_(ids)).order_by(Item.id)).all()
        return [(item, rewrite(item, recipe, 0, language_of(item))) for item in items]
    except (InvalidInput, AugmentError):
        return []


def _result(payload: dict[str, Any], done: dict[str, Any]) -> dict[str, Any]:
    return {
        **payload["recipe"],
        "filter": payload["filter"],
        "item_ids": payload["item_ids"],
        "items": done.get("items", 0),
        "written": done.get("written", 0),
        "skipped": {reason: done.get("skipped", {}).get(reason, 0) for reason in SKIP_REASONS},
    }


def settle(session: Session, ctx: TaskContext, state: str, message: str) -> None:
    """Nothing to mark: the drafts written stay, and the task says how far it got."""


def reopen(session: Session, ctx: TaskContext) -> None:
    """Nothing to put back: a retry goes on after the last committed batch."""


KINDS = {KIND: Kind(run=run, settle=settle, reopen=reopen)}
