"""Statistics for pairwise human judgments: win rates, sign tests and Bradley-Terry ratings.

A judgment compares system A's output with system B's on one prompt and says "a" (A better),
"b" (B better), "tie", or "both_bad". Everywhere here a tie counts as half a win for each side,
and "both_bad" is a tie that is also counted on its own so the page can show it. Strengths are
fitted with Hunter's MM algorithm ("MM algorithms for generalized Bradley-Terry models",
Annals of Statistics, 2004) and shown on an Elo-like rating scale.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

OUTCOMES = ("a", "b", "tie", "both_bad")
BT_OUTCOMES = ("a", "b", "tie")
Z_95 = 1.959963984540054  # standard normal quantile at 0.975
MIN_INTERVAL_N = 10  # below this the page marks an interval as resting on too few judgments
RATING_SCALE = 400.0  # Elo's convention: 400 points = ten-to-one odds
RATING_BASE = 1000.0  # the rating of strength 1, the geometric mean of a component
# Above this many non-tied judgments the exact sum of binomial coefficients gets slow
# (about 60 ms at 20,000, 1.5 s at 100,000), and a log-space sum is accurate enough.
EXACT_SIGN_TEST_MAX_N = 20_000


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for ``successes`` of ``n``; half successes (ties) are allowed."""
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie between 0 and n ({n}), got {successes}")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # At 0 or n successes the bound is exactly 0 or 1; rounding would leave it a hair inside.
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == n else min(1.0, centre + half_width)
    return low, high


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test: ``min(1, 2 * P(X <= min(wins, losses)))``, X ~ Bin(n, 1/2)."""
    if wins < 0 or losses < 0:
        raise ValueError("wins and losses must not be negative")
    n = wins + losses
    k = min(wins, losses)
    if 2 * k >= n:  # the tail holds at least half the mass, so doubling it reaches 1
        return 1.0
    if n <= EXACT_SIGN_TEST_MAX_N:
        coefficient = total = 1
        for i in range(k):
            coefficient = coefficient * (n - i) // (i + 1)
            total += coefficient
        return total / 2 ** (n - 1)  # int / int rounds correctly, however large the two
    # Sum C(n, i) / C(n, k) downward from i = k; the terms shrink geometrically once past
    # the few near k, so this stops long before reaching i = 0.
    ratio_sum = term = 1.0
    for i in range(k, 0, -1):
        term *= i / (n - i + 1)
        ratio_sum += term
        if term < 1e-17 * ratio_sum:
            break
    log_coefficient = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    return min(1.0, math.exp(log_coefficient + math.log(ratio_sum) - (n - 1) * math.log(2)))


@dataclass(frozen=True)
class Tally:
    """Judgments of system A against system B, from A's side; ``ties`` include ``both_bad``."""

    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0

    def __post_init__(self) -> None:
        if min(self.wins, self.losses, self.ties, self.both_bad) < 0:
            raise ValueError("counts must not be negative")
        if self.both_bad > self.ties:
            raise ValueError("both_bad judgments are ties, so they cannot outnumber ties")

    @classmethod
    def of(cls, outcomes: Iterable[str]) -> Tally:
        """Count outcomes "a" (A better), "b" (B better), "tie" and "both_bad"."""
        counts = Counter(outcomes)
        unknown = set(counts) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"unknown outcomes {sorted(map(str, unknown))}; expected {OUTCOMES}")
        both_bad = counts["both_bad"]
        return cls(counts["a"], counts["b"], counts["tie"] + both_bad, both_bad)

    @property
    def n(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> float | None:
        return (self.wins + self.ties / 2) / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.wins + self.ties / 2, self.n) if self.n else None

    @property
    def p_value(self) -> float:
        return sign_test(self.wins, self.losses)

    @property
    def small(self) -> bool:
        """Too few judgments for the interval to mean much; it is still computed."""
        return self.n < MIN_INTERVAL_N


class Comparison(NamedTuple):
    """One judgment between systems ``a`` and ``b``: outcome "a", "b" or "tie".

    A "both_bad" judgment is passed as "tie" (the fit has no notion of absolute quality).
    Plain ``(a, b, outcome)`` tuples are accepted wherever a Comparison is.
    """

    a: Hashable
    b: Hashable
    outcome: str


def rating(strength: float) -> float:
    """Elo-like rating of a Bradley-Terry strength: ``400 * log10(strength) + 1000``."""
    return RATING_SCALE * math.log10(strength) + RATING_BASE


@dataclass(frozen=True)
class BTFit:
    """Bradley-Terry strengths, normalised so each component's geometric mean is 1.

    Strengths are comparable only within one component of the comparison graph:
    ``connected`` is False when there is more than one.
    """

    strengths: dict[Hashable, float]
    components: list[frozenset[Hashable]]  # largest first
    connected: bool
    comparisons: dict[Hashable, int]  # judgments each system took part in
    iterations: int
    converged: bool
    prior_ties: float

    def rating(self, system: Hashable) -> float:
        return rating(self.strengths[system])

    def component_of(self, system: Hashable) -> int:
        return next(i for i, component in enumerate(self.components) if system in component)


class _Design(NamedTuple):
    """Comparisons as indices: systems in first-seen order, met pairs (i < j), per-pair codes."""

    systems: list[Hashable]
    pairs: list[tuple[int, int]]
    codes: list[int]  # pair index * 3 + (0: i won, 1: j won, 2: tie)
    components: list[list[int]]


def _design(comparisons: Iterable[tuple[Hashable, Hashable, str]]) -> _Design:
    index: dict[Hashable, int] = {}
    pair_index: dict[tuple[int, int], int] = {}
    codes = []
    for a, b, outcome in comparisons:
        if outcome not in BT_OUTCOMES:
            raise ValueError(f"outcome must be one of {BT_OUTCOMES} (pass both_bad as tie)")
        if a == b:
            raise ValueError(f"a system cannot be compared with itself: {a!r}")
        i, j = index.setdefault(a, len(index)), index.setdefault(b, len(index))
        key = (min(i, j), max(i, j))
        pair = pair_index.setdefault(key, len(pair_index))
        won = 2 if outcome == "tie" else (0 if (outcome == "a") == (i < j) else 1)
        codes.append(pair * 3 + won)
    return _Design(list(index), list(pair_index), codes, _components(len(index), list(pair_index)))


def _reach(start: int, edges: list[set[int]]) -> set[int]:
    reached, frontier = {start}, [start]
    while frontier:
        fresh = edges[frontier.pop()] - reached
        reached |= fresh
        frontier.extend(fresh)
    return reached


def _components(m: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    neighbours: list[set[int]] = [set() for _ in range(m)]
    for i, j in pairs:
        neighbours[i].add(j)
        neighbours[j].add(i)
    found: list[list[int]] = []
    seen: set[int] = set()
    for start in range(m):
        if start not in seen:
            component = _reach(start, neighbours)
            seen |= component
            found.append(sorted(component))
    return sorted(found, key=len, reverse=True)  # stable: equal sizes keep first-seen order


def _pair_counts(
    design: _Design, counts: Mapping[int, int], prior_ties: float
) -> tuple[list[float], list[float]]:
    """Judgments per met pair and win credit per system, the prior's virtual ties included."""
    totals = [0.0] * len(design.pairs)
    credit = [0.0] * len(design.systems)
    for pair, (i, j) in enumerate(design.pairs):
        first, second, tied = (counts.get(pair * 3 + k, 0) for k in range(3))
        totals[pair] = first + second + tied + prior_ties
        credit[i] += first + (tied + prior_ties) / 2
        credit[j] += second + (tied + prior_ties) / 2
    return totals, credit


def _check_finite(design: _Design, counts: Mapping[int, int]) -> None:
    """Without a prior the maximum exists only if each component is strongly connected by wins
    (Ford 1957): otherwise some group never beats the rest and its strength runs to 0."""
    beats: list[set[int]] = [set() for _ in design.systems]
    beaten_by: list[set[int]] = [set() for _ in design.systems]
    for pair, (i, j) in enumerate(design.pairs):
        first, second, tied = (counts.get(pair * 3 + k, 0) for k in range(3))
        if first or tied:
            beats[i].add(j)
            beaten_by[j].add(i)
        if second or tied:
            beats[j].add(i)
            beaten_by[i].add(j)
    for component in design.components:
        if any(len(_reach(component[0], edges)) < len(component) for edges in (beats, beaten_by)):
            raise ValueError(
                "some systems never beat (or never lose to) the rest of their group, so "
                "their strengths are not finite; fit with prior_ties > 0"
            )


def _mm(
    design: _Design,
    totals: list[float],
    credit: list[float],
    start: list[float] | None,
    iterations: int,
    tolerance: float,
) -> tuple[list[float], int, bool]:
    """Hunter's MM update p_i <- W_i / sum_j n_ij / (p_i + p_j) on aggregated pair counts."""
    p = list(start) if start else [1.0] * len(credit)
    edges = [(i, j, totals[pair]) for pair, (i, j) in enumerate(design.pairs)]
    for step in range(1, iterations + 1):
        denominator = [0.0] * len(p)
        for i, j, n in edges:
            share = n / (p[i] + p[j])
            denominator[i] += share
            denominator[j] += share
        new = [w / d for w, d in zip(credit, denominator, strict=True)]
        for component in design.components:
            scale = math.exp(sum(math.log(new[i]) for i in component) / len(component))
            for i in component:
                new[i] /= scale
        change = max((abs(a - b) / b for a, b in zip(new, p, strict=True)), default=0.0)
        p = new
        if change < tolerance:
            return p, step, True
    return p, iterations, False


def bradley_terry(
    comparisons: Iterable[tuple[Hashable, Hashable, str]],
    *,
    prior_ties: float = 1.0,
    iterations: int = 10_000,
    tolerance: float = 1e-10,
) -> BTFit:
    """Fit Bradley-Terry strengths: P(i beats j) = p_i / (p_i + p_j), ties half a win each.

    ``prior_ties`` virtual ties are added between every pair of systems that met. This weak
    prior keeps a system with no wins (or no losses) finite, and pulls strengths slightly
    toward each other; with ``prior_ties=0`` the plain maximum-likelihood fit is returned, or
    ValueError raised when it does not exist. Iteration stops when no strength moves by a
    relative ``tolerance``; ``converged`` says whether that happened within ``iterations``.
    """
    if not (prior_ties >= 0 and math.isfinite(prior_ties)):
        raise ValueError("prior_ties must be a finite number >= 0")
    if iterations < 1 or not tolerance > 0:
        raise ValueError("iterations must be >= 1 and tolerance > 0")
    design = _design(comparisons)
    counts = Counter(design.codes)
    if prior_ties == 0:
        _check_finite(design, counts)
    totals, credit = _pair_counts(design, counts, prior_ties)
    p, steps, converged = _mm(design, totals, credit, None, iterations, tolerance)
    judgments = Counter(system for code in design.codes for system in design.pairs[code // 3])
    return BTFit(
        strengths=dict(zip(design.systems, p, strict=True)),
        components=[frozenset(design.systems[i] for i in c) for c in design.components],
        connected=len(design.components) <= 1,
        comparisons={system: judgments[i] for i, system in enumerate(design.systems)},
        iterations=steps,
        converged=converged,
        prior_ties=prior_ties,
    )


def _percentile(ordered: list[float], q: float) -> float:
    # Linear interpolation between order statistics (numpy's default "linear" method).
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bootstrap_intervals(
    comparisons: Iterable[tuple[Hashable, Hashable, str]],
    *,
    resamples: int = 200,
    seed: int = 0,
    level: float = 0.95,
    prior_ties: float = 1.0,
) -> dict[Hashable, tuple[float, float]]:
    """Percentile bootstrap intervals of each system's rating (the ``rating`` scale, not strength).

    Each resample draws as many judgments as there are, with replacement, and refits. The prior
    goes on the pairs that met in the full data, so every resample keeps the full data's graph
    and components; it must be positive, since a resample easily leaves a system without a win.
    """
    if resamples < 2:
        raise ValueError("resamples must be at least 2")
    if not 0 < level < 1:
        raise ValueError("level must lie strictly between 0 and 1")
    if not (prior_ties > 0 and math.isfinite(prior_ties)):
        raise ValueError("the bootstrap needs a finite prior_ties > 0")
    design = _design(comparisons)
    if not design.codes:
        return {}
    totals, credit = _pair_counts(design, Counter(design.codes), prior_ties)
    point, _, _ = _mm(design, totals, credit, None, 10_000, 1e-10)
    rng = random.Random(seed)
    samples: list[list[float]] = [[] for _ in design.systems]
    for _ in range(resamples):
        drawn = Counter(rng.choices(design.codes, k=len(design.codes)))
        totals, credit = _pair_counts(design, drawn, prior_ties)
        # Starting from the full fit saves most of the iterations; 1e-8 is far below what a
        # percentile of a couple of hundred resamples can resolve.
        strengths, _, _ = _mm(design, totals, credit, point, 10_000, 1e-8)
        for i, strength in enumerate(strengths):
            samples[i].append(rating(strength))
    tail = (1 - level) / 2
    intervals = {}
    for system, values in zip(design.systems, samples, strict=True):
        values.sort()
        intervals[system] = (_percentile(values, tail), _percentile(values, 1 - tail))
    return intervals


@dataclass(frozen=True)
class RankingRow:
    system: Hashable
    strength: float
    rating: float
    interval: tuple[float, float] | None  # on the rating scale, from bootstrap_intervals
    judgments: int
    component: int  # index into BTFit.components; 0 is the largest


def ranking(
    fit: BTFit, intervals: Mapping[Hashable, tuple[float, float]] | None = None
) -> list[RankingRow]:
    """Rows by component (largest first), then strongest first: strengths in different
    components are not comparable, so they are never interleaved."""
    intervals = intervals or {}
    component_of = {s: index for index, c in enumerate(fit.components) for s in c}
    rows = [
        RankingRow(
            system=system,
            strength=strength,
            rating=rating(strength),
            interval=intervals.get(system),
            judgments=fit.comparisons[system],
            component=component_of[system],
        )
        for system, strength in fit.strengths.items()
    ]
    return sorted(rows, key=lambda row: (row.component, -row.strength))
