"""JSON shapes of the balance report: what its page shows, in English."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.stats.balance import BalanceReport, BalanceWarning, Dimension, Group
from app.stats.balance_view import ACTION_LABELS, BalanceLinks, group_text, warning_text


class GroupOut(BaseModel):
    value: str | int | None = Field(
        description="The kind, domain, language, author's user id, origin or difficulty; "
        "null for the items without one (no domain, no author, no difficulty)."
    )
    label: str = Field(description="The group as the page shows it.")
    email: str | None = Field(None, description="An annotator's email.")
    count: int
    share: float = Field(description="Of all the items counted, from 0 to 1.")
    train: int | None = Field(None, description="A dataset version's items in the train split.")
    eval: int | None = Field(None, description="A dataset version's items in the eval split.")

    @classmethod
    def of(cls, dimension: str, group: Group) -> GroupOut:
        splits = group.by_split or {}
        return cls(
            value=group.value,
            label=group_text(dimension, group),
            email=group.email,
            count=group.count,
            share=group.share,
            train=splits.get("train"),
            eval=splits.get("eval"),
        )


class DimensionOut(BaseModel):
    name: str = Field(description="kind, domain, language, annotator, provenance or difficulty.")
    groups: list[GroupOut]
    entropy: float | None = Field(
        description="Shannon entropy of the shares over ln(groups present): 1.0 when every "
        "group is the same size, 0.0 for one group only, null without items."
    )
    one_group: bool

    @classmethod
    def of(cls, dim: Dimension) -> DimensionOut:
        return cls(
            name=dim.name,
            groups=[GroupOut.of(dim.name, g) for g in dim.groups],
            entropy=dim.entropy,
            one_group=dim.one_group,
        )


class ActionOut(BaseModel):
    code: str = Field(description=", ".join(ACTION_LABELS))
    label: str
    href: str = Field(description="A path in this app: the form or list that acts on it.")


class WarningOut(BaseModel):
    rule: Literal["thin", "dominant"] = Field(
        description="thin: a share under min_share; dominant: an annotator or a source other "
        "than writing by hand over max_share."
    )
    dimension: str
    group: GroupOut
    threshold: float
    message: str
    action: ActionOut

    @classmethod
    def of(cls, warning: BalanceWarning, links: BalanceLinks) -> WarningOut:
        action = links.action(warning)
        return cls(
            rule=warning.rule,
            dimension=warning.dimension,
            group=GroupOut.of(warning.dimension, warning.group),
            threshold=warning.threshold,
            message=warning_text(warning),
            action=ActionOut(code=action.code, label=ACTION_LABELS[action.code], href=action.href),
        )


class BalanceOut(BaseModel):
    project_id: int
    version_id: int | None = Field(description="Set for a dataset version's report.")
    scope: str | None = Field(
        description="A project's items counted: approved, or not_rejected (every item but the "
        "rejected ones); null for a version (its pinned items)."
    )
    total: int
    train: int | None = None
    eval: int | None = None
    min_share: float
    max_share: float
    dimensions: list[DimensionOut]
    warnings: list[WarningOut]

    @classmethod
    def of(
        cls,
        report: BalanceReport,
        links: BalanceLinks,
        *,
        version_id: int | None = None,
        scope: str | None = None,
    ) -> BalanceOut:
        splits = report.by_split or {}
        return cls(
            project_id=links.project_id,
            version_id=version_id,
            scope=scope,
            total=report.total,
            train=splits.get("train"),
            eval=splits.get("eval"),
            min_share=report.thresholds.min_share,
            max_share=report.thresholds.max_share,
            dimensions=[DimensionOut.of(d) for d in report.dimensions],
            warnings=[WarningOut.of(w, links) for w in report.warnings],
        )
