"""JSON API for projects: the same rules and errors as the pages."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.apidoc import ERRORS
from app.auth.deps import Admin, Annotator
from app.db import DbSession
from app.members import access as members
from app.projects import service
from app.projects.service import ProjectInput

router = APIRouter(prefix="/api/v1", tags=["items"], responses=ERRORS)


class ProjectIn(ProjectInput):
    name: str = Field(min_length=1, max_length=200)


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    guidelines: str
    guideline_version: int
    label_schema: dict
    languages: list[str]
    approvals_needed: int
    labeling_overlap: int
    blind_mode: bool
    drafts_shared: bool
    version: int


@router.get("/projects", response_model=list[ProjectOut], name="api_projects")
def list_projects(session: DbSession, user: Annotator):
    """The projects the caller is a member of (every project, for an admin)."""
    return service.list_projects(session=session, within=members.project_ids(session, user=user))


@router.post("/projects", response_model=ProjectOut, status_code=201, name="api_projects_create")
def create_project(body: ProjectIn, session: DbSession, user: Admin):
    """Create a project."""
    return service.create_project(session=session, data=body, actor=user)
