"""The balance report: how a project's items, or a dataset version's pinned items, divide by
kind, domain, language, annotator, provenance and difficulty, how evenly (normalised entropy),
and which groups are too thin or too dominant.

Definitions (the README's "Balance report" states them for readers):

- A group's share is its items over all the items counted.
- A dimension's evenness is the Shannon entropy of its shares over the groups present,
  divided by the largest it could be for that many groups: ``H / ln k``. 1.0 means every
  group holds the same share. With one group only there is no spread to measure: it reads 0.0
  and says so (``one_group``), since nothing tells whether other groups were wanted.
- A group is *thin* when its share is strictly under ``min_share`` (at exactly the minimum it
  is not): for kind, domain, language and difficulty. The group of items without a value (no
  domain, no difficulty) is never thin: it names nothing to ask more of.
- An annotator *dominates* when they wrote strictly more than ``max_share`` of the items; a
  source dominates when items made any way but written by hand (imported, demo, generated…)
  are strictly more than ``max_share``.

The counts come from the database in one grouped query per dimension (``balance_queries``);
this module turns counts into the report and knows no SQL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from app.core.provenance import Origin
from app.errors import InvalidInput
from app.i18n import N_

DIMENSIONS = ("kind", "domain", "language", "annotator", "provenance", "difficulty")
THIN_DIMENSIONS = ("kind", "domain", "language", "difficulty")
DEFAULT_MIN_SHARE = 0.05
DEFAULT_MAX_SHARE = 0.5
MIN_SHARE_LIMIT = 0.5  # a "minimum" above half would call most groups thin
SPLITS = ("train", "eval")

Value = str | int | None  # a group: a kind, domain, language, author id, origin or difficulty
Rule = Literal["thin", "dominant"]

THRESHOLDS_INVALID = N_(
    "A threshold is out of range: the minimum share goes from 0 to 0.5, the dominance share "
    "from above 0 to 1."
)
MIN_SHARE_INVALID = N_("The minimum share must be a number from 0 to 0.5.")
MAX_SHARE_INVALID = N_("The dominance share must be a number above 0 and at most 1.")


@dataclass(frozen=True)
class Thresholds:
    min_share: float = DEFAULT_MIN_SHARE
    max_share: float = DEFAULT_MAX_SHARE

    @classmethod
    def of(cls, min_share: str | float | None, max_share: str | float | None) -> Thresholds:
        """The thresholds a request gives (blank or None: the default), or InvalidInput naming
        each one out of range."""
        low = _number(min_share, DEFAULT_MIN_SHARE)
        high = _number(max_share, DEFAULT_MAX_SHARE)
        errors = {}
        if low is None or not 0 <= low <= MIN_SHARE_LIMIT:
            errors["min_share"] = MIN_SHARE_INVALID
        if high is None or not 0 < high <= 1:
            errors["max_share"] = MAX_SHARE_INVALID
        if low is None or high is None or errors:
            raise InvalidInput(THRESHOLDS_INVALID, errors=errors)
        return cls(min_share=low, max_share=high)


def _number(value: str | float | None, default: float) -> float | None:
    """A finite number, the default for a blank, or None for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Group:
    value: Value  # None: the items without one (no domain, no author, no difficulty)
    count: int
    share: float
    name: str | None = None  # an annotator's display name
    email: str | None = None  # and email
    by_split: Mapping[str, int] | None = None  # a version's train and eval items


@dataclass(frozen=True)
class Dimension:
    name: str
    groups: list[Group]
    entropy: float | None  # normalised: None without items, 0.0 for one group only

    @property
    def one_group(self) -> bool:
        return len(self.groups) == 1


@dataclass(frozen=True)
class BalanceWarning:
    rule: Rule
    dimension: str
    group: Group
    threshold: float


@dataclass(frozen=True)
class BalanceReport:
    total: int
    thresholds: Thresholds
    dimensions: list[Dimension]
    warnings: list[BalanceWarning]
    by_split: Mapping[str, int] | None = None  # a version's items per split

    def dimension(self, name: str) -> Dimension:
        return next(d for d in self.dimensions if d.name == name)


def normalised_entropy(counts: list[int]) -> float | None:
    """``H / ln k`` over the ``k`` non-empty counts: 1.0 when even, 0.0 for one group only,
    None for none."""
    present = [n for n in counts if n > 0]
    if not present:
        return None
    if len(present) == 1:
        return 0.0
    total = sum(present)
    entropy = -sum(n / total * math.log(n / total) for n in present)
    return entropy / math.log(len(present))


def _below(count: int, total: int, share: float) -> bool:
    """count / total < share, exactly: 3 of 30 is not under 0.1 (as floats it would be)."""
    return Fraction(count) < Fraction(str(share)) * total


def _above(count: int, total: int, share: float) -> bool:
    return Fraction(count) > Fraction(str(share)) * total


GroupCounts = Mapping[Value, Mapping[str | None, int]]  # value → split (None: all) → items


def build(
    counts: Mapping[str, GroupCounts],
    thresholds: Thresholds,
    *,
    people: Mapping[int, tuple[str, str]] | None = None,
    splits: bool = False,
) -> BalanceReport:
    """The report from each dimension's counts; ``people`` are the annotators' display names
    and emails by id, ``splits`` reports a version's train and eval items beside each group."""
    people = people or {}
    dimensions = [
        _dimension(name, counts.get(name, {}), people=people, splits=splits) for name in DIMENSIONS
    ]
    total = sum(g.count for g in dimensions[0].groups)
    by_split = None
    if splits:
        first = dimensions[0].groups
        by_split = {s: sum((g.by_split or {}).get(s, 0) for g in first) for s in SPLITS}
    warnings = [w for d in dimensions for w in _warnings(d, total, thresholds)]
    return BalanceReport(
        total=total,
        thresholds=thresholds,
        dimensions=dimensions,
        warnings=warnings,
        by_split=by_split,
    )


def _dimension(name: str, counts: GroupCounts, *, people, splits: bool) -> Dimension:
    merged: dict[Value, dict[str, int]] = {}
    for value, per_split in counts.items():
        # A blank domain or language is no value, as a missing one is.
        key = None if value == "" else value
        into = merged.setdefault(key, {})
        for split, n in per_split.items():
            into[split or "all"] = into.get(split or "all", 0) + n
    total = sum(sum(per.values()) for per in merged.values())
    groups = [
        _group(name, value, per, total, people, splits)
        for value, per in merged.items()
        if sum(per.values()) > 0
    ]
    groups.sort(key=_order(name))
    return Dimension(
        name=name, groups=groups, entropy=normalised_entropy([g.count for g in groups])
    )


def _group(dimension, value: Value, per: dict[str, int], total: int, people, splits) -> Group:
    count = sum(per.values())
    name = email = None
    if dimension == "annotator" and value is not None:
        name, email = people.get(value, (f"#{value}", None))
    return Group(
        value=value,
        count=count,
        share=count / total,
        name=name,
        email=email,
        by_split={s: per.get(s, 0) for s in SPLITS} if splits else None,
    )


def _order(name: str):
    """Difficulty reads as a scale (1 to 5); the other groups largest first. The items
    without a value come last."""
    if name == "difficulty":
        return lambda g: (g.value is None, g.value or 0)
    return lambda g: (g.value is None, -g.count, str(g.name or g.value))


def _warnings(dim: Dimension, total: int, thresholds: Thresholds) -> list[BalanceWarning]:
    found = []
    for group in dim.groups:
        if group.value is None:
            continue
        if dim.name in THIN_DIMENSIONS and _below(group.count, total, thresholds.min_share):
            found.append(BalanceWarning("thin", dim.name, group, thresholds.min_share))
        dominates = dim.name == "annotator" or (
            dim.name == "provenance" and group.value != Origin.written.value
        )
        if dominates and _above(group.count, total, thresholds.max_share):
            found.append(BalanceWarning("dominant", dim.name, group, thresholds.max_share))
    return found
