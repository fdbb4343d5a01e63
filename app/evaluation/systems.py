"""Systems a round compares, and the prompts two systems both have outputs for.

A system is one side of a finished job (``12:base``, ``12:tuned``) or the eval items'
reference outputs (``reference``), which are one system whatever job carried them. Prompts
match across jobs by the content hash of the revision each job's dataset version pinned, so
two jobs trained on different versions are compared on the prompts they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import prompts
from app.core.kinds import ItemContent
from app.errors import InvalidInput
from app.i18n import N_
from app.jobs.groups import Traits, pinned_traits
from app.models import DatasetVersionItem, EvalPrediction, Item, ItemRevision, Job

SIDE_NAMES = {"base": N_("base"), "tuned": N_("tuned"), "reference": N_("reference outputs")}


@dataclass(frozen=True, order=True)
class System:
    job_id: int | None
    side: str

    @property
    def key(self) -> str:
        return "reference" if self.side == "reference" else f"{self.job_id}:{self.side}"

    @classmethod
    def parse(cls, text: str) -> System:
        """``reference`` or ``<job id>:<base|tuned>``; InvalidInput otherwise."""
        text = text.strip()
        if text == "reference":
            return cls(None, "reference")
        job, _, side = text.partition(":")
        if job.isdigit() and side in ("base", "tuned") and len(job) < 10:
            return cls(int(job), side)
        raise InvalidInput(
            N_("A system is “reference” or a job and a side, such as “12:tuned”."),
            errors={"system": N_("Choose a system.")},
        )

    def label(self) -> str:
        """A plain-English name for logs and exports (pages translate the side)."""
        return "reference" if self.side == "reference" else f"job {self.job_id} {self.side}"


@dataclass
class Candidate:
    """A prompt both systems have an output for."""

    content_hash: str
    item_id: int
    kind: str
    language: str
    domain: str | None
    messages: list[dict[str, str]]
    constraints: list[Any]
    reference: str
    outputs: dict[System, str] = field(default_factory=dict)


def _job_outputs(session: Session, job: Job) -> dict[str, tuple[EvalPrediction, dict, Traits]]:
    """Content hash → (prediction, pinned snapshot, its language and domain) for a job's eval
    items."""
    rows = session.execute(
        select(
            EvalPrediction,
            ItemRevision.snapshot,
            ItemRevision.content_hash,
            Item.language,
            Item.domain,
        )
        .join(
            DatasetVersionItem,
            (DatasetVersionItem.item_id == EvalPrediction.item_id)
            & (DatasetVersionItem.version_id == job.dataset_version_id),
        )
        .join(ItemRevision, ItemRevision.id == DatasetVersionItem.revision_id)
        .join(Item, Item.id == EvalPrediction.item_id)
        # Held-out prompts only: the seen sample ('train') shows what a job learned, and a
        # round judges how it does on prompts it never saw.
        .where(EvalPrediction.job_id == job.id, EvalPrediction.split == "eval")
        .order_by(EvalPrediction.item_id)
    )
    return {
        digest: (p, snapshot, pinned_traits(snapshot, language, domain))
        for p, snapshot, digest, language, domain in rows
    }


def finished_job(session: Session, *, project_id: int, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.project_id != project_id:
        raise InvalidInput(
            N_("No job %(id)s in this project."), id=job_id, errors={"system": N_("Not found.")}
        )
    if job.status != "succeeded":
        raise InvalidInput(
            N_("Job %(id)s has not finished; only a finished job has outputs to judge."),
            id=job_id,
            errors={"system": N_("Not finished.")},
        )
    return job


def candidates(session: Session, *, project_id: int, a: System, b: System) -> list[Candidate]:
    """Every prompt both systems have an output for, in item order."""
    if a == b:
        raise InvalidInput(
            N_("Choose two different systems."), errors={"b": N_("Same as system A.")}
        )
    job_ids = sorted({s.job_id for s in (a, b) if s.job_id is not None})
    if not job_ids:
        raise InvalidInput(
            N_("At least one system must be a job's outputs."),
            errors={"a": N_("Choose a job.")},
        )
    per_job = {
        job_id: _job_outputs(session, finished_job(session, project_id=project_id, job_id=job_id))
        for job_id in job_ids
    }
    first = per_job[job_ids[0]]
    shared = [h for h in first if all(h in found for found in per_job.values())]
    found: list[Candidate] = []
    for digest in shared:
        prediction, snapshot, traits = first[digest]
        content = ItemContent.from_row(snapshot)
        candidate = Candidate(
            content_hash=digest,
            item_id=prediction.item_id,
            kind=prediction.kind,
            language=traits.language,
            domain=traits.domain or None,
            messages=[dict(m) for m in prompts.prompt_messages(content)],
            constraints=list(snapshot.get("constraints") or []),
            reference=prediction.reference,
        )
        for system in (a, b):
            candidate.outputs[system] = _output(per_job, system, digest, prediction)
        found.append(candidate)
    return found


def _output(per_job, system: System, digest: str, first: EvalPrediction) -> str:
    if system.side == "reference":
        return first.reference
    prediction = per_job[system.job_id][digest][0]
    return prediction.base_output if system.side == "base" else prediction.tuned_output


def matches(
    found: list[Candidate], *, kind: str = "", language: str = "", domain: str = ""
) -> list[Candidate]:
    """The candidates that pass the round's prompt filter."""
    return [
        c
        for c in found
        if (not kind or c.kind == kind)
        and (not language or c.language == language)
        and (not domain or (c.domain or "") == domain)
    ]


def choices(session: Session, *, project_id: int) -> list[tuple[System, Job]]:
    """Every system a round in this project can compare: each finished job's two sides."""
    jobs = session.scalars(
        select(Job)
        .where(Job.project_id == project_id, Job.status == "succeeded", Job.kind == "finetune")
        .order_by(Job.id.desc())
    )
    return [(System(job.id, side), job) for job in jobs for side in ("tuned", "base")]
