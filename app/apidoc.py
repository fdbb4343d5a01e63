"""What every JSON router declares in the API schema: the error body, the error answers any
operation may give, and the type of ids in paths and queries.

The schema is a promise to clients (and what the fuzzing test holds the app to): each router
passes ``responses=ERRORS``, so a refusal is documented with the body ``app.handlers`` really
sends, and an id outside the database's integer range is refused as invalid input before any
query runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, Field

from app.db import MAX_INTEGER


class FieldProblem(BaseModel):
    field: str = Field(description="The field, dotted for nested ones; empty for the whole body.")
    message: str


class ErrorOut(BaseModel):
    """The body of every JSON error answer."""

    error: str = Field(
        description="A stable code: not_authenticated, forbidden, not_found, conflict, invalid, "
        "validation_error, too_large, too_many_attempts, http_error, internal_error."
    )
    detail: str | list[FieldProblem] = Field(
        description="What went wrong: a sentence, or one problem per field."
    )


def _error(description: str) -> dict:
    return {"model": ErrorOut, "description": description}


ERRORS: dict[int | str, dict] = {
    400: _error("The body could not be parsed."),
    401: _error("No valid session or token."),
    403: _error("The caller's role or token scope does not allow this."),
    404: _error("No such row, or one the caller may not see."),
    409: _error("A stale version, a duplicate, or a change the current state does not allow."),
    413: _error("The request or a field is larger than its limit."),
    422: _error("Input that does not parse or breaks a rule; each field is named."),
    429: _error("Too many attempts; retry later."),
}

# No row has an id above PostgreSQL's ``integer``: a larger one is invalid input, not a lookup.
PathId = Annotated[int, Path(ge=1, le=MAX_INTEGER, description="A row id.")]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_INTEGER, description="A row id.")]
