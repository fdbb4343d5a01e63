"""JSON shapes for a project's members."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.db import MAX_INTEGER
from app.members.service import MAX_QUOTA, MemberRow

ProjectRoleName = Literal["annotator", "reviewer", "manager"]


class MemberOut(BaseModel):
    user_id: int
    email: str
    display_name: str
    role: ProjectRoleName
    quota: int | None = Field(description="Contributions asked for; null: no quota.")
    submitted: int = Field(description="Items they wrote that left draft, in this project.")
    labeled: int = Field(description="Items they labeled in this project.")
    version: int = Field(description="Send it back when changing the membership.")

    @classmethod
    def of(cls, row: MemberRow) -> MemberOut:
        return cls(
            user_id=row.user.id,
            email=row.user.email,
            display_name=row.user.display_name,
            role=row.member.role,
            quota=row.member.quota,
            submitted=row.submitted,
            labeled=row.labeled,
            version=row.member.version,
        )


class MemberCreate(BaseModel):
    """Who to add: exactly one of ``email`` and ``user_id``."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, min_length=1, max_length=320)
    user_id: int | None = Field(default=None, ge=1, le=MAX_INTEGER)
    role: ProjectRoleName | None = Field(
        default=None, description="Omitted: the role matching their global role."
    )
    quota: int | None = Field(default=None, ge=1, le=MAX_QUOTA)

    @model_validator(mode="after")
    def _one_person(self) -> MemberCreate:
        if (self.email is None) == (self.user_id is None):
            raise ValueError("give either email or user_id")
        return self


class MemberPatch(BaseModel):
    """What to change; a field left out stays as it is, ``"quota": null`` removes the quota."""

    model_config = ConfigDict(extra="forbid")

    role: ProjectRoleName | None = None
    quota: int | None = Field(default=None, ge=1, le=MAX_QUOTA)
    version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_INTEGER,
        description="The version you read; a stale one answers 409.",
    )
