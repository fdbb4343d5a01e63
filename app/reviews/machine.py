"""The item status machine (design §4), as one table: (status, action) → new status.

Anything not in the table is refused with a sentence saying why.
"""

from __future__ import annotations

from app.i18n import N_

STATUSES = ("draft", "submitted", "approved", "rejected", "changes_requested")
ACTIONS = ("submit", "edit", "approve", "reject", "request_changes", "reopen", "reject_duplicate")

TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "submit"): "submitted",
    ("draft", "edit"): "draft",
    ("submitted", "edit"): "submitted",  # a new version: a new review round
    ("submitted", "approve"): "approved",  # or stays submitted until enough approvals
    ("submitted", "reject"): "rejected",
    ("submitted", "request_changes"): "changes_requested",
    ("changes_requested", "edit"): "changes_requested",
    ("changes_requested", "submit"): "submitted",
    ("approved", "edit"): "submitted",  # an edit after approval starts a new round
    ("approved", "reopen"): "submitted",
    # Resolving a duplicate cluster keeps one item and rejects the rest, whatever their state.
    ("draft", "reject_duplicate"): "rejected",
    ("submitted", "reject_duplicate"): "rejected",
    ("approved", "reject_duplicate"): "rejected",
    ("changes_requested", "reject_duplicate"): "rejected",
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


def next_status(status: str, action: str) -> str | None:
    return TRANSITIONS.get((status, action))
