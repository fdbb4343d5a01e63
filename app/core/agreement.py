"""Inter-annotator agreement: Cohen's kappa for two annotators, Krippendorff's alpha for any number.

Kappa (plain, or linear/quadratic weighted for ordinal fields) compares two annotators on the
items both labeled. Alpha follows Krippendorff, "Computing Krippendorff's Alpha-Reliability"
(2011): a coincidence matrix over pairable values, then ``alpha = 1 - D_o / D_e`` with the
nominal, ordinal or interval difference function.

Sums run on ``fractions.Fraction`` so that "chance agreement is exactly 1" and "expected
disagreement is exactly 0" are exact tests rather than float comparisons; results come back as
floats. ``None`` (or a float NaN) is a missing label everywhere.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations

KAPPA_WEIGHTS = (None, "linear", "quadratic")
ALPHA_LEVELS = ("nominal", "ordinal", "interval")

Distance = Callable[[Hashable, Hashable], Fraction]


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa with the counts behind it; ``confusion`` covers every category pair."""

    kappa: float | None
    observed: float | None  # p_o: (weighted) share of agreement actually seen
    expected: float | None  # p_e: the same share expected from the two annotators' marginals
    n: int
    confusion: dict[tuple[Hashable, Hashable], int]
    categories: tuple[Hashable, ...]
    weights: str | None = None
    reason: str | None = None  # why kappa is None


@dataclass(frozen=True)
class AlphaResult:
    """Krippendorff's alpha with its disagreements and coincidence matrix (all value pairs)."""

    alpha: float | None
    observed_disagreement: float | None
    expected_disagreement: float | None
    n_pairable: int
    n_units: int
    coincidence: dict[tuple[Hashable, Hashable], float]
    values: tuple[Hashable, ...]
    level: str
    reason: str | None = None  # why alpha is None


@dataclass(frozen=True)
class PairKappa:
    """Kappa for one annotator pair, and how many items only one of the two labeled."""

    annotator_a: Hashable
    annotator_b: Hashable
    result: KappaResult
    only_a: int
    only_b: int

    @property
    def kappa(self) -> float | None:
        return self.result.kappa

    @property
    def n(self) -> int:
        return self.result.n


def is_missing(value: object) -> bool:
    # NaN counts as missing because spreadsheets and pandas exports write blanks that way.
    return value is None or (isinstance(value, float) and math.isnan(value))


def _ordered_categories(
    seen: Iterable[Hashable], categories: Sequence[Hashable] | None, *, ordered: bool
) -> tuple[Hashable, ...]:
    """The categories in display (and, for ordinal use, rank) order."""
    seen = list(dict.fromkeys(seen))
    if categories is not None:
        order = tuple(categories)
        if len(set(order)) != len(order):
            raise ValueError(f"categories repeat a value: {order!r}")
        unknown = [label for label in seen if label not in set(order)]
        if unknown:
            raise ValueError(f"labels {unknown!r} are not among the categories {order!r}")
        return order
    try:
        return tuple(sorted(seen))
    except TypeError:
        if ordered:
            raise ValueError("labels of mixed types have no order; pass categories") from None
        return tuple(seen)  # nominal data needs no order: keep first-seen order for display


def _kappa_distance(weights: str | None, order: tuple[Hashable, ...]) -> Distance:
    """Disagreement weight in [0, 1] between two categories, by their rank in ``order``."""
    rank = {category: index for index, category in enumerate(order)}
    # Normalising by the widest gap keeps p_o and p_e on the familiar 0..1 agreement scale;
    # max(..., 1) only guards the single-category case, where every weight is 0 anyway.
    span = max(len(order) - 1, 1)
    if weights is None:
        return lambda a, b: Fraction(a != b)
    if weights == "linear":
        return lambda a, b: Fraction(abs(rank[a] - rank[b]), span)
    return lambda a, b: Fraction((rank[a] - rank[b]) ** 2, span**2)


def cohen_kappa(
    pairs: Iterable[tuple[Hashable, Hashable]],
    *,
    weights: str | None = None,
    categories: Sequence[Hashable] | None = None,
) -> KappaResult:
    """Cohen's kappa over (label by A, label by B) pairs; pairs with a missing side are dropped.

    ``weights`` is None (plain kappa), "linear" or "quadratic"; weights use each category's rank
    in ``categories`` (default: the labels sorted), so pass the full scale, e.g. 1..5.
    Kappa is None with a ``reason`` when no item is shared, or when chance agreement is 1:
    both annotators used one and the same category for every item, so p_o = p_e = 1 and
    kappa = 0/0. Calling that perfect (1.0) would reward a field nobody varied.
    """
    if weights not in KAPPA_WEIGHTS:
        raise ValueError(f"weights must be one of {KAPPA_WEIGHTS}, not {weights!r}")
    kept = [(a, b) for a, b in pairs if not is_missing(a) and not is_missing(b)]
    order = _ordered_categories(
        (label for pair in kept for label in pair), categories, ordered=weights is not None
    )
    counts = Counter(kept)
    confusion = {(a, b): counts[(a, b)] for a in order for b in order}
    n = len(kept)
    if n == 0:
        reason = "no items labeled by both annotators"
        return KappaResult(None, None, None, 0, confusion, order, weights, reason)

    distance = _kappa_distance(weights, order)
    rows = Counter(a for a, _ in kept)
    columns = Counter(b for _, b in kept)
    observed_d = sum(count * distance(a, b) for (a, b), count in counts.items()) / Fraction(n)
    expected_d = sum(
        rows[a] * columns[b] * distance(a, b) for a in rows for b in columns
    ) / Fraction(n * n)
    observed, expected = float(1 - observed_d), float(1 - expected_d)
    if expected_d == 0:
        reason = "both annotators used one identical category for every item (p_e = 1)"
        return KappaResult(None, observed, expected, n, confusion, order, weights, reason)
    # 1 - D_o/D_e equals the textbook (p_o - p_e) / (1 - p_e), plain or weighted.
    kappa = float(1 - observed_d / expected_d)
    return KappaResult(kappa, observed, expected, n, confusion, order, weights)


def _alpha_distance(
    level: str, order: tuple[Hashable, ...], totals: Mapping[Hashable, Fraction]
) -> Distance:
    """Krippendorff's squared difference function delta^2(c, k) for the level."""
    if level == "nominal":
        return lambda c, k: Fraction(c != k)
    if level == "interval":
        return lambda c, k: (_number(c) - _number(k)) ** 2
    # Ordinal: the distance between ranks is the mass of values lying between them, counting
    # the two end points by half: (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2.
    rank = {value: index for index, value in enumerate(order)}
    cumulative = [Fraction(0)]
    for value in order:
        cumulative.append(cumulative[-1] + totals.get(value, 0))

    def ordinal(c: Hashable, k: Hashable) -> Fraction:
        low, high = sorted((rank[c], rank[k]))
        between = cumulative[high + 1] - cumulative[low]
        return (between - (totals[c] + totals[k]) / 2) ** 2

    return ordinal


def _number(value: Hashable) -> Fraction:
    if not isinstance(value, numbers.Real):
        raise ValueError(f"interval alpha needs numbers, got {value!r}")
    return Fraction(value)


def krippendorff_alpha(
    units: Mapping[Hashable, Sequence[Hashable | None]] | Sequence[Sequence[Hashable | None]],
    *,
    level: str = "nominal",
    categories: Sequence[Hashable] | None = None,
) -> AlphaResult:
    """Krippendorff's alpha; each unit (item) lists the values its coders gave, None if missing.

    Note the orientation: one entry per *unit*, not the paper's coder-by-unit table (see
    ``units_from_labels``). Units with fewer than 2 values are not pairable and are dropped.
    ``categories`` fixes the value order (the rank order for "ordinal"; default sorted).
    Alpha is None with a ``reason`` when no unit is pairable or D_e = 0 (one value throughout).
    """
    if level not in ALPHA_LEVELS:
        raise ValueError(f"level must be one of {ALPHA_LEVELS}, not {level!r}")
    unit_values = units.values() if isinstance(units, Mapping) else units
    coincidence: defaultdict[tuple[Hashable, Hashable], Fraction] = defaultdict(Fraction)
    n_units = 0
    for values in unit_values:
        present = Counter(value for value in values if not is_missing(value))
        m = sum(present.values())
        if m < 2:
            continue  # a lone value has no partner to agree or disagree with
        n_units += 1
        # Every ordered pair of values from different coders adds 1/(m - 1), so each unit
        # contributes exactly m pairable values however many coders it had.
        for c, n_c in present.items():
            for k, n_k in present.items():
                pair_count = n_c * (n_k - 1) if c == k else n_c * n_k
                if pair_count:
                    coincidence[c, k] += Fraction(pair_count, m - 1)

    totals: defaultdict[Hashable, Fraction] = defaultdict(Fraction)
    for (c, _), count in coincidence.items():
        totals[c] += count
    order = _ordered_categories(totals, categories, ordered=level != "nominal")
    matrix = {(c, k): float(coincidence.get((c, k), 0)) for c in order for k in order}
    n = sum(totals.values())
    if n == 0:
        reason = "no unit has two or more values to pair"
        return AlphaResult(None, None, None, 0, 0, matrix, order, level, reason)

    distance = _alpha_distance(level, order, totals)
    observed_d = sum(count * distance(c, k) for (c, k), count in coincidence.items()) / n
    expected_d = sum(totals[c] * totals[k] * distance(c, k) for c in totals for k in totals) / (
        n * (n - 1)
    )
    result = (float(observed_d), float(expected_d), int(n), n_units, matrix, order, level)
    if expected_d == 0:
        return AlphaResult(None, *result, "every pairable value is the same (D_e = 0)")
    return AlphaResult(float(1 - observed_d / expected_d), *result)


def _labeled(
    labels: Mapping[Hashable, Mapping[Hashable, Hashable | None]],
) -> dict[Hashable, dict[Hashable, Hashable]]:
    return {
        annotator: {item: value for item, value in given.items() if not is_missing(value)}
        for annotator, given in labels.items()
    }


def pairwise_kappas(
    labels: Mapping[Hashable, Mapping[Hashable, Hashable | None]],
    *,
    weights: str | None = None,
    categories: Sequence[Hashable] | None = None,
) -> list[PairKappa]:
    """Cohen's kappa for every annotator pair ({annotator: {item: label}}), on shared items.

    All pairs share one category scale (``categories``, else every label seen, sorted) so that
    weighted kappas of different pairs measure distance the same way.
    """
    labeled = _labeled(labels)
    every_label = (value for given in labeled.values() for value in given.values())
    scale = _ordered_categories(every_label, categories, ordered=weights is not None)
    results = []
    for a, b in combinations(labeled, 2):
        shared = [item for item in labeled[a] if item in labeled[b]]
        pairs = [(labeled[a][item], labeled[b][item]) for item in shared]
        result = cohen_kappa(pairs, weights=weights, categories=scale)
        only_a, only_b = len(labeled[a]) - len(shared), len(labeled[b]) - len(shared)
        results.append(PairKappa(a, b, result, only_a, only_b))
    return results


def units_from_labels(
    labels: Mapping[Hashable, Mapping[Hashable, Hashable | None]],
) -> dict[Hashable, list[Hashable | None]]:
    """Turn {annotator: {item: label}} into alpha's units: {item: [label per annotator]}.

    An annotator who did not label an item contributes None, which alpha treats as missing.
    """
    items = dict.fromkeys(item for given in labels.values() for item in given)
    return {item: [given.get(item) for given in labels.values()] for item in items}
