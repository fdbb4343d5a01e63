"""Projects: settings, label schema, review policy and versioned guidelines."""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.models import GuidelineVersion, Project, User
from app.models.base import utcnow

LANGUAGE_CODES = ("en", "zh")


class ProjectInput(BaseModel):
    """What the project form and the API send; the service checks it (``_validate``)."""

    name: str
    description: str = ""
    guidelines: str = ""
    domains: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=lambda: ["en", "zh"])
    approvals_needed: int = 1
    labeling_overlap: int = 1
    blind_mode: bool = False
    drafts_shared: bool = False


def split_list(text: str) -> list[str]:
    """Comma- or newline-separated values, trimmed, de-duplicated, order kept."""
    seen: dict[str, None] = {}
    for part in text.replace("\n", ",").replace("，", ",").split(","):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return list(seen)


def _validate(data: ProjectInput) -> None:
    errors: dict[str, str] = {}
    if not data.name.strip():
        errors["name"] = N_("Required.")
    elif len(data.name) > 200:
        errors["name"] = N_("At most 200 characters.")
    if data.approvals_needed not in (1, 2):
        errors["approvals_needed"] = N_("Choose 1 or 2.")
    if not 1 <= data.labeling_overlap <= 10:
        errors["labeling_overlap"] = N_("Between 1 and 10.")
    if not data.languages or any(code not in LANGUAGE_CODES for code in data.languages):
        errors["languages"] = N_("Choose English, Chinese or both.")
    if any(len(d) > 100 for d in data.domains):
        errors["domains"] = N_("Each domain has at most 100 characters.")
    if errors:
        raise InvalidInput(N_("Please fix the highlighted fields."), errors=errors)


def _snapshot(project: Project) -> dict:
    return {
        "name": project.name,
        "description": project.description,
        "guideline_version": project.guideline_version,
        "label_schema": project.label_schema,
        "languages": project.languages,
        "approvals_needed": project.approvals_needed,
        "labeling_overlap": project.labeling_overlap,
        "blind_mode": project.blind_mode,
        "drafts_shared": project.drafts_shared,
    }


def _name_taken(session: Session, name: str, exclude_id: int | None = None) -> bool:
    query = select(Project.id).where(Project.name == name)
    if exclude_id is not None:
        query = query.where(Project.id != exclude_id)
    return session.scalar(query) is not None


def _apply(project: Project, data: ProjectInput) -> None:
    project.name = data.name.strip()
    project.description = data.description
    project.label_schema = {"domains": data.domains, "tags": data.tags, "difficulty": [1, 5]}
    project.languages = data.languages
    project.approvals_needed = data.approvals_needed
    project.labeling_overlap = data.labeling_overlap
    project.blind_mode = data.blind_mode
    project.drafts_shared = data.drafts_shared


def create_project(*, session: Session, data: ProjectInput, actor: User) -> Project:
    _validate(data)
    if _name_taken(session, data.name.strip()):
        raise Conflict(N_("A project named %(name)s already exists."), name=data.name.strip())
    project = Project(guidelines=data.guidelines, guideline_version=1, created_by=actor.id)
    _apply(project, data)
    session.add(project)
    session.flush()
    session.add(
        GuidelineVersion(
            project_id=project.id,
            version=1,
            guidelines=data.guidelines,
            editor_id=actor.id,
            created_at=utcnow(),
        )
    )
    audit.record(
        session,
        actor=actor,
        action="project.created",
        entity_type="project",
        entity_id=project.id,
        after=_snapshot(project),
    )
    return project


def update_project(
    *, session: Session, project_id: int, data: ProjectInput, expected_version: int, actor: User
) -> Project:
    """Change settings; a guidelines edit makes a new guideline version."""
    project = get_project(session=session, project_id=project_id)
    if project.version != expected_version:
        raise Conflict(
            N_("This project was changed by someone else meanwhile. Review and retry."),
            current=project,
        )
    _validate(data)
    if _name_taken(session, data.name.strip(), exclude_id=project.id):
        raise Conflict(N_("A project named %(name)s already exists."), name=data.name.strip())
    before = _snapshot(project)
    _apply(project, data)
    if data.guidelines != project.guidelines:
        project.guidelines = data.guidelines
        project.guideline_version += 1
        session.add(
            GuidelineVersion(
                project_id=project.id,
                version=project.guideline_version,
                guidelines=data.guidelines,
                editor_id=actor.id,
                created_at=utcnow(),
            )
        )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="project.updated",
        entity_type="project",
        entity_id=project.id,
        before=before,
        after=_snapshot(project),
    )
    return project


def get_project(*, session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(N_("No project with id %(id)s."), id=project_id)
    return project


def list_projects(*, session: Session, within: Collection[int] | None = None) -> list[Project]:
    """Projects by name; only those ``within`` (None: all)."""
    query = select(Project).order_by(Project.name)
    if within is not None:
        query = query.where(Project.id.in_(within))
    return list(session.scalars(query))


def guideline_versions(*, session: Session, project_id: int) -> list[GuidelineVersion]:
    return list(
        session.scalars(
            select(GuidelineVersion)
            .where(GuidelineVersion.project_id == project_id)
            .order_by(GuidelineVersion.version.desc())
        )
    )


def get_guideline_version(*, session: Session, project_id: int, version: int) -> GuidelineVersion:
    row = session.scalar(
        select(GuidelineVersion).where(
            GuidelineVersion.project_id == project_id, GuidelineVersion.version == version
        )
    )
    if row is None:
        raise NotFound(N_("No guideline version %(version)s."), version=version)
    return row
