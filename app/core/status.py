"""The item status machine (design §4), as one table: (status, action) → new status.

``ItemStatus`` is the one list of statuses. Anything not in the table is refused with a
sentence saying why.
"""

from __future__ import annotations

from enum import StrEnum

from app.core.constraints.base import N_


class ItemStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    changes_requested = "changes_requested"


DRAFT, SUBMITTED, APPROVED, REJECTED, CHANGES_REQUESTED = ItemStatus
ACTIONS = ("submit", "edit", "approve", "reject", "request_changes", "reopen", "reject_duplicate")

TRANSITIONS: dict[tuple[ItemStatus, str], ItemStatus] = {
    (DRAFT, "submit"): SUBMITTED,
    (DRAFT, "edit"): DRAFT,
    (SUBMITTED, "edit"): SUBMITTED,  # a new version: a new review round
    (SUBMITTED, "approve"): APPROVED,  # or stays submitted until enough approvals
    (SUBMITTED, "reject"): REJECTED,
    (SUBMITTED, "request_changes"): CHANGES_REQUESTED,
    (CHANGES_REQUESTED, "edit"): CHANGES_REQUESTED,
    (CHANGES_REQUESTED, "submit"): SUBMITTED,
    (APPROVED, "edit"): SUBMITTED,  # an edit after approval starts a new round
    (APPROVED, "reopen"): SUBMITTED,
    # Resolving a duplicate cluster keeps one item and rejects the rest, whatever their state.
    (DRAFT, "reject_duplicate"): REJECTED,
    (SUBMITTED, "reject_duplicate"): REJECTED,
    (APPROVED, "reject_duplicate"): REJECTED,
    (CHANGES_REQUESTED, "reject_duplicate"): REJECTED,
}

WHY_NOT = {
    "submit": N_(
        "Only a draft or an item sent back for changes can be submitted; this one is %(status)s."
    ),
    "edit": N_("A rejected item is closed and cannot be edited."),
    "approve": N_("Only a submitted item can be approved; this one is %(status)s."),
    "reject": N_("Only a submitted item can be rejected; this one is %(status)s."),
    "request_changes": N_(
        "Only a submitted item can be sent back for changes; this one is %(status)s."
    ),
    "reopen": N_("Only an approved item can be reopened; this one is %(status)s."),
    "reject_duplicate": N_("This item is already rejected."),
}

REASONS = {
    "factual_error": N_("factual error"),
    "constraint_violated": N_("constraint violated"),
    "unclear_instruction": N_("unclear instruction"),
    "duplicate": N_("duplicate"),
    "unsafe": N_("unsafe"),
    "guideline_not_followed": N_("guideline not followed"),
    "flagged_by_training": N_("flagged by training"),
    "other": N_("other"),
}


def next_status(status: str, action: str) -> ItemStatus | None:
    return TRANSITIONS.get((status, action))  # type: ignore[arg-type]  (a StrEnum is its str)
