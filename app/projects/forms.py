"""The project form: one model for what the create and edit pages post."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.models import Project
from app.projects.service import ProjectInput, split_list


class ProjectForm(BaseModel):
    """The project form as posted (``Annotated[ProjectForm, Form()]``): the lists as typed,
    comma- or newline-separated."""

    name: str = Field("", max_length=400)
    description: str = Field("", max_length=20000)
    guidelines: str = Field("", max_length=200000)
    domains: str = Field("", max_length=20000)
    tags: str = Field("", max_length=20000)
    languages: list[str] = Field(default_factory=list)
    approvals_needed: int = 1
    labeling_overlap: int = 1
    blind_mode: bool = False
    drafts_shared: bool = False

    def as_input(self) -> ProjectInput:
        """What the service takes, with the typed lists split."""
        return ProjectInput(
            name=self.name,
            description=self.description,
            guidelines=self.guidelines,
            domains=split_list(self.domains),
            tags=split_list(self.tags),
            languages=self.languages,
            approvals_needed=self.approvals_needed,
            labeling_overlap=self.labeling_overlap,
            blind_mode=self.blind_mode,
            drafts_shared=self.drafts_shared,
        )


def saved_values(project: Project) -> ProjectInput:
    """A saved project's settings, as the edit form shows them."""
    return ProjectInput(
        name=project.name,
        description=project.description,
        guidelines=project.guidelines,
        domains=project.label_schema.get("domains", []),
        tags=project.label_schema.get("tags", []),
        languages=project.languages,
        approvals_needed=project.approvals_needed,
        labeling_overlap=project.labeling_overlap,
        blind_mode=project.blind_mode,
        drafts_shared=project.drafts_shared,
    )
