"""JSON API for rule-based augmentation: queue the task the augmentation form queues, over the
item list's filters or chosen ids, and poll it as any background task (``/api/v1/tasks/{id}``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.apidoc import ERRORS, PathId
from app.auth.deps import ProjectManager
from app.background.schemas import TaskOut
from app.core.augment import DEFAULT_RATE, OPERATIONS
from app.core.kinds import ItemKind
from app.core.provenance import Origin
from app.core.status import ItemStatus
from app.db import MAX_INTEGER, DbSession
from app.errors import InvalidInput
from app.items import augment_recipe, augment_task
from app.items.augment_recipe import Recipe
from app.items.repository import ItemFilter
from app.projects import service as projects

router = APIRouter(prefix="/api/v1", tags=["items"], responses=ERRORS)
RowId = Annotated[int, Field(ge=1, le=MAX_INTEGER)]
Operation = Literal[tuple(OPERATIONS)]


class AugmentItems(BaseModel):
    """Which items: those matching the item list's filters (every item when empty), among
    ``item_ids`` when it names any. Only tasks, constraints and examples that are not
    rejected are read."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field("", max_length=200)
    kind: ItemKind | None = None
    status: ItemStatus | None = None
    domain: str | None = Field(None, max_length=100)
    tag: str | None = Field(None, max_length=100)
    author: RowId | None = None
    difficulty: int | None = Field(None, ge=1, le=5)
    language: str | None = Field(None, max_length=16)
    origin: Origin | None = None
    created_from: date | None = None
    created_to: date | None = None
    item_ids: list[RowId] = Field(
        default_factory=list, max_length=augment_task.MAX_ITEMS, description="Only these items."
    )

    def as_filter(self, project_id: int) -> ItemFilter:
        values = self.model_dump(exclude={"author", "item_ids"})
        return ItemFilter(
            project_id=project_id,
            **values,
            author_id=self.author,
            item_ids=tuple(sorted(set(self.item_ids))),
        )


class AugmentIn(BaseModel):
    """Rule-based augmentation (EDA) of each item's instruction (and input): ``copies`` new
    drafts per item in English or Chinese, linked to their source, constraints kept and the
    output re-checked. The same ``seed`` over the same items writes the same drafts."""

    model_config = ConfigDict(extra="forbid")

    operation: Operation = Field(description="The rule each copy applies.")
    rate: float = Field(DEFAULT_RATE, gt=0, le=1, description="The share of words changed.")
    copies: int = Field(1, ge=1, le=augment_recipe.MAX_COPIES, description="New drafts per item.")
    seed: int | None = Field(
        None, ge=0, le=MAX_INTEGER, description="Left out: a random one, in the task's result."
    )
    fields: list[Literal["instruction", "input"]] = Field(
        default_factory=lambda: ["instruction"],
        max_length=2,
        description="What is rewritten: the instruction, and the input if named.",
    )
    items: AugmentItems = Field(default_factory=AugmentItems)


@router.post(
    "/projects/{project_id}/augment",
    response_model=TaskOut,
    status_code=202,
    name="api_augment",
)
def augment_items(project_id: PathId, body: AugmentIn, session: DbSession, user: ProjectManager):
    """Queue rule-based augmentation (202, the background task): poll the task until it is
    done; its result counts the drafts written and the copies skipped by reason. 422 for an
    unknown operation or a value out of range (naming the field), and with a sentence when no
    item qualifies or a language's thesaurus is not installed."""
    project = projects.get_project(session=session, project_id=project_id)
    recipe = Recipe(
        operation=body.operation,
        rate=body.rate,
        copies=body.copies,
        seed=body.seed,
        fields=tuple(body.fields),
    )
    try:
        task = augment_task.start(
            session=session,
            project=project,
            f=body.items.as_filter(project.id),
            recipe=recipe,
            actor=user,
        )
    except InvalidInput as refused:
        # The sentence, not the form's per-field notes: it names the value at fault.
        raise InvalidInput(refused.message, **refused.params) from None
    return TaskOut.model_validate(task)
