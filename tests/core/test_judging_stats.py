"""Judging statistics against hand arithmetic and cases with closed-form answers.

Wilson score interval, z = 1.959963985 (z^2 = 3.841459):
    centre = (p + z^2 / 2n) / (1 + z^2 / n)
    half   = z * sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n)
8 of 10: centre = (0.8 + 0.192073) / 1.384146 = 0.716741,
         half = 1.959964 * sqrt(0.016 + 0.009604) / 1.384146 = 0.226579 -> (0.4902, 0.9433).
0 of 10: half = centre = 0.192073 / 1.384146 = 0.138767 -> (0, 0.2775); 10 of 10 mirrors it.
64 of 100: centre = 0.659207 / 1.038415 = 0.634820, half = 0.096019 / 1.038415 = 0.092467
         -> (0.5424, 0.7273).
7.5 of 10 (7 wins, 1 tie): centre = 0.942073 / 1.384146 = 0.680617,
         half = 1.959964 * sqrt(0.01875 + 0.009604) / 1.384146 = 0.238436 -> (0.4422, 0.9191).
"""

from __future__ import annotations

import math
import random
import time

import pytest

from app.core import judging_stats
from app.core.judging_stats import (
    MIN_INTERVAL_N,
    BTFit,
    Comparison,
    Tally,
    bootstrap_intervals,
    bradley_terry,
    ranking,
    rating,
    sign_test,
    wilson_interval,
)


def games(a, b, wins=0, losses=0, ties=0) -> list[tuple[str, str, str]]:
    return [(a, b, "a")] * wins + [(a, b, "b")] * losses + [(a, b, "tie")] * ties


def six_systems(n: int = 2000, seed: int = 1) -> list[tuple[str, str, str]]:
    """Judgments drawn from known strengths 2^(i/2), one in ten a tie."""
    rng = random.Random(seed)
    true = {f"s{i}": 2 ** (i / 2) for i in range(6)}
    drawn = []
    for _ in range(n):
        a, b = rng.sample(sorted(true), 2)
        if rng.random() < 0.1:
            drawn.append((a, b, "tie"))
        else:
            drawn.append((a, b, "a" if rng.random() < true[a] / (true[a] + true[b]) else "b"))
    return drawn


def geometric_mean(values) -> float:
    values = list(values)
    return math.exp(sum(map(math.log, values)) / len(values))


class TestWilson:
    @pytest.mark.parametrize(
        ("successes", "n", "expected"),
        [
            (8, 10, (0.4902, 0.9433)),
            (0, 10, (0.0, 0.2775)),
            (10, 10, (0.7225, 1.0)),
            (64, 100, (0.5424, 0.7273)),
            (7.5, 10, (0.4422, 0.9191)),
        ],
    )
    def test_hand_computed(self, successes, n, expected):
        assert wilson_interval(successes, n) == pytest.approx(expected, abs=5e-5)

    def test_bounds_are_exact_at_the_ends(self):
        assert wilson_interval(0, 7)[0] == 0.0
        assert wilson_interval(7, 7)[1] == 1.0

    def test_wider_at_higher_confidence(self):
        low90, high90 = wilson_interval(8, 10, z=1.6448536269514722)
        low95, high95 = wilson_interval(8, 10)
        assert low95 < low90 < high90 < high95

    @pytest.mark.parametrize(("successes", "n"), [(0, 0), (1, -1), (11, 10), (-0.5, 10)])
    def test_invalid(self, successes, n):
        with pytest.raises(ValueError):
            wilson_interval(successes, n)


class TestSignTest:
    def test_nine_to_one(self):
        # 2 * (C(10,0) + C(10,1)) / 2^10 = 2 * 11 / 1024
        assert sign_test(9, 1) == 0.021484375
        assert sign_test(1, 9) == 0.021484375

    def test_clean_sweep(self):
        assert sign_test(10, 0) == 2 / 1024

    @pytest.mark.parametrize(("wins", "losses"), [(5, 5), (0, 0), (1, 0), (50, 50)])
    def test_even_or_tiny_is_one(self, wins, losses):
        assert sign_test(wins, losses) == 1.0

    def test_six_to_one(self):
        # 2 * (1 + 7) / 128
        assert sign_test(6, 1) == 0.125

    def test_six_to_four(self):
        # 2 * (1 + 10 + 45 + 120 + 210) / 1024 = 772 / 1024
        assert sign_test(6, 4) == 0.75390625

    def test_large_n_is_symmetric_and_near_the_normal_approximation(self):
        p = sign_test(4900, 5100)
        assert p == sign_test(5100, 4900)
        # Continuity-corrected z = (4900.5 - 5000) / 50 = -1.99
        normal = math.erfc(1.99 / math.sqrt(2))
        assert p == pytest.approx(normal, rel=1e-3)

    def test_ten_thousand_is_fast(self):
        start = time.perf_counter()
        sign_test(4999, 5001)
        sign_test(3000, 7000)
        assert time.perf_counter() - start < 0.5

    @pytest.mark.parametrize(("wins", "losses"), [(4900, 5100), (4500, 5500), (100, 150)])
    def test_log_space_path_matches_exact(self, monkeypatch, wins, losses):
        exact = sign_test(wins, losses)
        monkeypatch.setattr(judging_stats, "EXACT_SIGN_TEST_MAX_N", 0)
        assert sign_test(wins, losses) == pytest.approx(exact, rel=1e-9)

    def test_very_large_n_stays_fast_and_bounded(self):
        start = time.perf_counter()
        assert sign_test(500_000, 500_000) == 1.0
        assert 0.0 <= sign_test(49_000, 51_000) < 1e-9
        assert time.perf_counter() - start < 0.5

    def test_negative_counts(self):
        with pytest.raises(ValueError):
            sign_test(-1, 3)


class TestTally:
    def test_of_outcomes(self):
        tally = Tally.of(["a", "a", "b", "tie", "both_bad"])
        assert tally == Tally(wins=2, losses=1, ties=2, both_bad=1)
        assert tally.n == 5
        assert tally.win_rate == pytest.approx(3 / 5)
        assert tally.p_value == 1.0
        assert tally.small

    def test_interval_counts_ties_as_half(self):
        tally = Tally.of(["a"] * 7 + ["tie"] + ["b"] * 2)
        assert tally.win_rate == 0.75
        assert tally.interval == wilson_interval(7.5, 10)
        assert tally.p_value == sign_test(7, 2)

    def test_small_threshold(self):
        assert Tally(wins=MIN_INTERVAL_N - 1).small
        assert not Tally(wins=8, losses=2).small
        assert Tally(wins=3).interval is not None  # still computed, only marked

    def test_empty(self):
        tally = Tally.of([])
        assert (tally.n, tally.win_rate, tally.interval, tally.p_value) == (0, None, None, 1.0)
        assert tally.small

    def test_invalid(self):
        with pytest.raises(ValueError, match="unknown outcomes"):
            Tally.of(["a", "A"])
        with pytest.raises(ValueError):
            Tally(ties=1, both_bad=2)
        with pytest.raises(ValueError):
            Tally(wins=-1)


def satisfies_likelihood_equations(fit: BTFit, comparisons, prior_ties: float) -> None:
    """W_i = sum_j n_ij p_i / (p_i + p_j), virtual ties included, for every system."""
    p = fit.strengths
    credit = dict.fromkeys(p, 0.0)
    expected = dict.fromkeys(p, 0.0)
    met = set()
    for a, b, outcome in comparisons:
        credit[a] += {"a": 1, "b": 0, "tie": 0.5}[outcome]
        credit[b] += {"a": 0, "b": 1, "tie": 0.5}[outcome]
        expected[a] += p[a] / (p[a] + p[b])
        expected[b] += p[b] / (p[a] + p[b])
        met.add(frozenset((a, b)))
    for a, b in map(tuple, met):
        credit[a] += prior_ties / 2
        credit[b] += prior_ties / 2
        expected[a] += prior_ties * p[a] / (p[a] + p[b])
        expected[b] += prior_ties * p[b] / (p[a] + p[b])
    for system in p:
        assert expected[system] == pytest.approx(credit[system], rel=1e-8)


class TestBradleyTerry:
    def test_two_systems_without_prior(self):
        fit = bradley_terry(games("A", "B", wins=3, losses=1), prior_ties=0)
        assert fit.strengths["A"] / fit.strengths["B"] == pytest.approx(3)
        assert fit.strengths["A"] == pytest.approx(math.sqrt(3))  # geometric mean 1
        assert fit.converged

    def test_two_systems_with_prior(self):
        # One virtual tie: A has 3.5 of 5 wins, B 1.5.
        fit = bradley_terry(games("A", "B", wins=3, losses=1))
        assert fit.strengths["A"] / fit.strengths["B"] == pytest.approx(3.5 / 1.5)

    def test_ties_are_half_wins(self):
        even = bradley_terry(games("A", "B", wins=1, losses=1, ties=2), prior_ties=0)
        assert even.strengths["A"] == pytest.approx(1.0)
        # W_A = 2 + 1 = 3, W_B = 0 + 1 = 1
        fit = bradley_terry(games("A", "B", wins=2, ties=2), prior_ties=0)
        assert fit.strengths["A"] / fit.strengths["B"] == pytest.approx(3)

    @pytest.mark.parametrize("prior", [0.0, 1.0])
    def test_cyclic_tournament_is_even(self, prior):
        comparisons = games("A", "B", wins=2) + games("B", "C", wins=2) + games("C", "A", wins=2)
        fit = bradley_terry(comparisons, prior_ties=prior)
        assert all(s == pytest.approx(1.0) for s in fit.strengths.values())

    def test_chain_has_closed_form(self):
        # On a tree each pair is fitted alone: A/B = 2, B/C = 3, so A:B:C = 6:3:1.
        comparisons = games("A", "B", wins=2, losses=1) + games("B", "C", wins=3, losses=1)
        fit = bradley_terry(comparisons, prior_ties=0)
        scale = 18 ** (1 / 3)
        assert fit.strengths == pytest.approx({"A": 6 / scale, "B": 3 / scale, "C": 1 / scale})

    @pytest.mark.parametrize("prior", [0.0, 1.0, 2.5])
    def test_fixed_point_solves_likelihood_equations(self, prior):
        comparisons = (
            games("A", "B", wins=7, losses=3, ties=2)
            + games("B", "C", wins=4, losses=5, ties=1)
            + games("A", "C", wins=6, losses=2)
            + [Comparison("C", "A", "a")]  # named tuples and reversed order work too
        )
        fit = bradley_terry(comparisons, prior_ties=prior)
        assert fit.converged
        satisfies_likelihood_equations(fit, comparisons, prior)
        assert fit.comparisons == {"A": 21, "B": 22, "C": 19}

    def test_disconnected(self):
        comparisons = games("A", "B", wins=2, losses=1) + games("C", "D", wins=3, losses=1)
        fit = bradley_terry(comparisons, prior_ties=0)
        assert not fit.connected
        assert fit.components == [{"A", "B"}, {"C", "D"}]
        assert fit.strengths["A"] * fit.strengths["B"] == pytest.approx(1)
        assert fit.strengths["C"] * fit.strengths["D"] == pytest.approx(1)
        assert fit.strengths["A"] / fit.strengths["B"] == pytest.approx(2)
        assert fit.strengths["C"] / fit.strengths["D"] == pytest.approx(3)
        assert fit.component_of("D") == 1

    def test_components_largest_first(self):
        comparisons = games("X", "Y", wins=1) + games("A", "B", ties=1) + games("B", "C", ties=1)
        fit = bradley_terry(comparisons)
        assert [len(c) for c in fit.components] == [3, 2]
        assert fit.component_of("X") == 1

    def test_zero_wins_stays_finite_with_prior(self):
        fit = bradley_terry(games("A", "B", wins=5))
        # W_A = 5.5, W_B = 0.5 over six judgments
        assert fit.strengths["A"] / fit.strengths["B"] == pytest.approx(11)
        assert math.isfinite(fit.rating("B"))

    def test_no_finite_fit_without_prior(self):
        with pytest.raises(ValueError, match="prior_ties"):
            bradley_terry(games("A", "B", wins=5), prior_ties=0)
        # Everyone wins something, but {A, B} never loses to {C, D}.
        comparisons = (
            games("A", "B", wins=1, losses=1)
            + games("C", "D", wins=1, losses=1)
            + games("A", "C", wins=1)
        )
        with pytest.raises(ValueError, match="prior_ties"):
            bradley_terry(comparisons, prior_ties=0)
        assert bradley_terry(comparisons).converged

    def test_rating_scale(self):
        assert rating(1.0) == 1000
        assert rating(10.0) == pytest.approx(1400)
        fit = bradley_terry(games("A", "B", wins=3, losses=1), prior_ties=0)
        # A 3:1 favourite is 400 * log10(3) = 190.8 points ahead.
        assert fit.rating("A") - fit.rating("B") == pytest.approx(400 * math.log10(3))

    def test_empty(self):
        fit = bradley_terry([])
        assert (fit.strengths, fit.components, fit.connected) == ({}, [], True)

    def test_iteration_cap_reports_not_converged(self):
        fit = bradley_terry(six_systems(200), iterations=1, tolerance=1e-15)
        assert (fit.iterations, fit.converged) == (1, False)

    @pytest.mark.parametrize(
        ("comparisons", "kwargs"),
        [
            ([("A", "B", "both_bad")], {}),
            ([("A", "A", "a")], {}),
            ([("A", "B", "a")], {"prior_ties": -1}),
            ([("A", "B", "a")], {"prior_ties": math.inf}),
            ([("A", "B", "a")], {"iterations": 0}),
        ],
    )
    def test_invalid(self, comparisons, kwargs):
        with pytest.raises(ValueError):
            bradley_terry(comparisons, **kwargs)

    def test_recovers_known_order(self):
        fit = bradley_terry(six_systems())
        order = sorted(fit.strengths, key=fit.strengths.get)
        assert order == [f"s{i}" for i in range(6)]


class TestBootstrap:
    def test_reproducible_with_seed(self):
        comparisons = six_systems(300)
        first = bootstrap_intervals(comparisons, resamples=50, seed=7)
        assert first == bootstrap_intervals(comparisons, resamples=50, seed=7)
        assert first != bootstrap_intervals(comparisons, resamples=50, seed=8)

    def test_clear_winner(self):
        comparisons = (
            games("A", "B", wins=40, losses=10)
            + games("B", "C", wins=40, losses=10)
            + games("A", "C", wins=45, losses=5)
        )
        fit = bradley_terry(comparisons)
        intervals = bootstrap_intervals(comparisons)
        for system in "ABC":
            low, high = intervals[system]
            assert low < fit.rating(system) < high
        assert intervals["A"][0] > intervals["B"][1]
        assert intervals["B"][0] > intervals["C"][1]

    def test_higher_level_is_wider(self):
        comparisons = six_systems(300)
        narrow = bootstrap_intervals(comparisons, level=0.8)["s3"]
        wide = bootstrap_intervals(comparisons, level=0.99)["s3"]
        assert wide[0] < narrow[0] < narrow[1] < wide[1]

    def test_fast_enough(self):
        comparisons = six_systems(2000)
        start = time.perf_counter()
        intervals = bootstrap_intervals(comparisons, resamples=200)
        assert time.perf_counter() - start < 2
        assert len(intervals) == 6

    def test_empty_and_invalid(self):
        assert bootstrap_intervals([]) == {}
        for kwargs in ({"prior_ties": 0}, {"resamples": 1}, {"level": 1.0}):
            with pytest.raises(ValueError):
                bootstrap_intervals(games("A", "B", wins=2), **kwargs)


class TestRanking:
    def test_rows_strongest_first_with_intervals(self):
        comparisons = six_systems(600)
        fit = bradley_terry(comparisons)
        intervals = bootstrap_intervals(comparisons, resamples=20)
        rows = ranking(fit, intervals)
        assert [row.system for row in rows] == [f"s{i}" for i in range(5, -1, -1)]
        top = rows[0]
        assert top.rating == fit.rating("s5")
        assert top.interval == intervals["s5"]
        assert top.judgments == fit.comparisons["s5"]
        assert top.component == 0

    def test_components_are_not_interleaved(self):
        comparisons = (
            games("A", "B", wins=1, losses=1)
            + games("B", "C", wins=1, losses=1)
            + games("X", "Y", wins=9, losses=1)
        )
        rows = ranking(bradley_terry(comparisons))
        assert [(row.system, row.component) for row in rows][3:] == [("X", 1), ("Y", 1)]
        assert all(row.interval is None for row in rows)
