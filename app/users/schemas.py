"""JSON shapes for people and the caller."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RoleName = Literal["annotator", "reviewer", "admin"]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    role: RoleName
    is_active: bool
    language: str
    version: int
    created_at: datetime


class UserCreate(BaseModel):
    email: str = Field(max_length=320)
    role: RoleName
    password: str = Field(min_length=8, max_length=1024)
    display_name: str = Field(default="", max_length=200)
    language: Literal["en", "zh"] = "en"


class UserPatch(BaseModel):
    version: int = Field(description="The version you read; a stale one answers 409.")
    role: RoleName | None = None
    is_active: bool | None = None


class MembershipOut(BaseModel):
    project_id: int
    project: str
    role: Literal["annotator", "reviewer", "manager"]


class MeOut(BaseModel):
    kind: Literal["user", "worker"]
    user: UserOut | None = None
    token_name: str | None = None
    # The projects the person belongs to (an admin manages every project, listed or not).
    memberships: list[MembershipOut] = Field(default_factory=list)
