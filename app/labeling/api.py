"""JSON API for labeling: the next item to label and saving labels, as on the pages."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from app.apidoc import ERRORS, PathId
from app.auth.deps import Member, ProjectAnnotator, ProjectReviewer
from app.db import DbSession
from app.items import service as items
from app.items.schemas import ItemOut, LabelIn
from app.labeling import service
from app.labeling.schemas import AgreementOut, FieldAgreementOut
from app.members import access as members
from app.projects import service as projects

router = APIRouter(prefix="/api/v1", tags=["items"], responses=ERRORS)


class LabelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    item_id: int
    annotator_id: int
    kind: str
    domain: str | None
    difficulty: int
    quality: int
    flags: list[str]


@router.get(
    "/projects/{project_id}/labeling/next", response_model=ItemOut | None, name="api_label_next"
)
def next_to_label(project_id: PathId, session: DbSession, user: ProjectAnnotator, member: Member):
    """The next item this caller should label, or null when none is left."""
    project = projects.get_project(session=session, project_id=project_id)
    return service.next_item(
        session=session,
        project=project,
        annotator=user,
        drafts_of=members.drafts_of(found=member, drafts_shared=project.drafts_shared),
    )


@router.post(
    "/items/{item_id}/labels", response_model=LabelOut, status_code=201, name="api_label_create"
)
def label_item(item_id: PathId, body: LabelIn, session: DbSession, user: ProjectAnnotator):
    """Save the caller's labels on an item."""
    item = items.get_item(session=session, item_id=item_id)
    project = projects.get_project(session=session, project_id=item.project_id)
    return service.submit_label(
        session=session, project=project, item=item, annotator=user, data=body
    )


@router.get("/projects/{project_id}/agreement", response_model=AgreementOut, name="api_agreement")
def project_agreement(project_id: PathId, session: DbSession, user: ProjectReviewer):
    """Per label field, Cohen's kappa for each annotator pair and Krippendorff's alpha over
    all: the agreement page's figures."""
    project = projects.get_project(session=session, project_id=project_id)
    results, summary = service.project_agreement(session=session, project=project)
    return AgreementOut(**summary, fields=[FieldAgreementOut.of(r) for r in results])
