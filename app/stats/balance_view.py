"""How the balance report reads: its words (translated where they are shown: the page in the
reader's language, the API and the command in English) and the action each warning offers,
as a link into the project.

Actions: a thin kind asks for more of it (the new-item form with that kind chosen); a thin
domain, language or difficulty is augmented from its items (the item list filtered to the
group); a dominating annotator's work is spread by assigning items to others (the assign page,
for managers; the others see that annotator's items); a dominating source is answered by
writing items by hand (the new-item form)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from app.display import KIND_LABELS, ORIGIN_LABELS, label
from app.i18n import N_, gettext
from app.stats.balance import BalanceWarning, Group

DIMENSION_NAMES = {
    "kind": N_("Kind"),
    "domain": N_("Domain"),
    "language": N_("Language"),
    "annotator": N_("Annotator"),
    "provenance": N_("Provenance"),
    "difficulty": N_("Difficulty"),
}
# The group of items without a value, per dimension (kinds and origins always have one).
NO_VALUE = {
    "domain": N_("no domain"),
    "language": N_("no language"),
    "annotator": N_("no author"),
    "difficulty": N_("no difficulty"),
}
THIN = N_("%(dimension)s “%(group)s” holds %(share)s of the items, under the minimum of %(limit)s.")
DOMINANT = {
    "annotator": N_("%(group)s wrote %(share)s of the items, more than %(limit)s."),
    "provenance": N_("Items made as “%(group)s” are %(share)s of the items, more than %(limit)s."),
}
ACTION_LABELS = {
    "ask_for_kind": N_("Ask for more of this kind"),
    "augment_group": N_("Augment this group"),
    "assign_work": N_("Assign work to other annotators"),
    "annotator_items": N_("See this annotator's items"),
    "write_by_hand": N_("Write more items by hand"),
}
SCOPE_LABELS = {
    "approved": N_("Approved items"),
    "not_rejected": N_("All items but rejected ones"),
}
# The item list's filter for each dimension.
_FILTERS = {
    "kind": "kind",
    "domain": "domain",
    "language": "language",
    "annotator": "author",
    "provenance": "origin",
    "difficulty": "difficulty",
}


def percent(share: float) -> str:
    """A share as a percentage to one decimal where it has one: 5%, 12.5%."""
    return f"{round(100 * share, 1):g}%"


def group_text(dimension: str, group: Group) -> str:
    """A group as the reader sees it."""
    if group.value is None:
        return gettext(NO_VALUE[dimension]) if dimension in NO_VALUE else "—"
    if dimension == "kind":
        return label(group.value, KIND_LABELS)
    if dimension == "provenance":
        return label(group.value, ORIGIN_LABELS)
    if dimension == "annotator":
        return group.name or str(group.value)
    return str(group.value)


def dimension_text(dimension: str) -> str:
    return gettext(DIMENSION_NAMES[dimension])


def warning_text(warning: BalanceWarning) -> str:
    """The warning's sentence; user text (a domain, a name) only ever fills a placeholder."""
    params = {
        "dimension": dimension_text(warning.dimension),
        "group": group_text(warning.dimension, warning.group),
        "share": percent(warning.group.share),
        "limit": percent(warning.threshold),
    }
    if warning.rule == "thin":
        return gettext(THIN, **params)
    return gettext(DOMINANT[warning.dimension], **params)


@dataclass(frozen=True)
class Action:
    code: str  # a key of ACTION_LABELS
    href: str


@dataclass(frozen=True)
class BalanceLinks:
    """Links from the report into its project: ``url_path_for`` is the app's, ``status`` the
    item list's status filter that matches what was counted (None: any), ``may_assign``
    whether the reader manages the project."""

    url_path_for: Callable[..., str]
    project_id: int
    status: str | None = None
    may_assign: bool = False

    def items(self, **filters: object) -> str:
        path = str(self.url_path_for("items", project_id=self.project_id))
        query = {**({"status": self.status} if self.status else {}), **filters}
        return f"{path}?{urlencode(query)}"

    def new_item(self, kind: str | None = None) -> str:
        path = str(self.url_path_for("item_new", project_id=self.project_id))
        return f"{path}?{urlencode({'kind': kind})}" if kind else path

    def group(self, dimension: str, group: Group) -> str | None:
        """The item list filtered to the group; None for the items without a value, which
        the list cannot select."""
        if group.value is None:
            return None
        return self.items(**{_FILTERS[dimension]: group.value})

    def action(self, warning: BalanceWarning) -> Action:
        dimension, group = warning.dimension, warning.group
        if warning.rule == "thin" and dimension == "kind":
            return Action("ask_for_kind", self.new_item(str(group.value)))
        if warning.rule == "thin":
            return Action("augment_group", self.group(dimension, group) or "")
        if dimension == "annotator" and self.may_assign:
            assign = self.url_path_for("assign", project_id=self.project_id)
            return Action("assign_work", str(assign))
        if dimension == "annotator":
            return Action("annotator_items", self.group(dimension, group) or "")
        return Action("write_by_hand", self.new_item())
