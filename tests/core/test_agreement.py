"""Agreement statistics against published worked examples and hand arithmetic.

Sources:
- Krippendorff, K. (2011). "Computing Krippendorff's Alpha-Reliability" (Annenberg School for
  Communication, asc_papers/43): the binary 2-coder example (alpha = 0.095), the nominal
  2-coder example (alpha = 0.692) and the 4-coder, 12-unit example with missing data
  (nominal 0.743, ordinal 0.815, interval 0.849).
- Wikipedia, "Cohen's kappa", worked example: 50 items, p_o = 0.7, p_e = 0.5, kappa = 0.4.
"""

from __future__ import annotations

import math

import pytest

from app.core.agreement import (
    AlphaResult,
    KappaResult,
    cohen_kappa,
    krippendorff_alpha,
    pairwise_kappas,
    units_from_labels,
)

# Krippendorff (2011), section C: coders A-D (rows) by units 1-12 (columns), None = "*".
CANONICAL_CODERS = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}
CANONICAL_LABELS = {
    coder: {unit: value for unit, value in enumerate(values, start=1)}
    for coder, values in CANONICAL_CODERS.items()
}


def transpose(*coders: list) -> list[list]:
    """The paper prints coders as rows; alpha takes one list per unit."""
    return [list(unit) for unit in zip(*coders, strict=True)]


def wikipedia_pairs() -> list[tuple[str, str]]:
    # Rows are A, columns B: yes/yes 20, A yes B no 5, A no B yes 10, no/no 15.
    return [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15


# Hand example for weighted kappa, 10 items on a 1-3 scale (rows A, columns B):
#          B=1 B=2 B=3 | rows
#    A=1    3   1   0  |  4
#    A=2    1   2   1  |  4
#    A=3    0   0   2  |  2
#   cols    4   3   3  | n = 10
ORDINAL_CELLS = {(1, 1): 3, (1, 2): 1, (2, 1): 1, (2, 2): 2, (2, 3): 1, (3, 3): 2}
ORDINAL_PAIRS = [pair for pair, count in ORDINAL_CELLS.items() for _ in range(count)]


class TestCohenKappa:
    def test_wikipedia_worked_example(self):
        # p_o = (20 + 15) / 50 = 0.7.  A says yes 25/50 = 0.5, B says yes 30/50 = 0.6, so
        # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5 and kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
        result = cohen_kappa(wikipedia_pairs())
        assert isinstance(result, KappaResult)
        assert result.n == 50
        assert result.observed == pytest.approx(0.7)
        assert result.expected == pytest.approx(0.5)
        assert result.kappa == pytest.approx(0.4)
        assert result.reason is None
        assert result.categories == ("no", "yes")
        assert result.confusion == {
            ("yes", "yes"): 20,
            ("yes", "no"): 5,
            ("no", "yes"): 10,
            ("no", "no"): 15,
        }

    def test_unweighted_three_categories(self):
        # p_o = (3 + 2 + 2) / 10 = 0.7;  p_e = (4*4 + 4*3 + 2*3) / 100 = 0.34;
        # kappa = (0.7 - 0.34) / (1 - 0.34) = 0.36 / 0.66 = 6/11.
        result = cohen_kappa(ORDINAL_PAIRS)
        assert result.observed == pytest.approx(0.7)
        assert result.expected == pytest.approx(0.34)
        assert result.kappa == pytest.approx(6 / 11)
        assert result.confusion[(3, 1)] == 0  # the grid is complete, zeros included

    def test_linear_weighted(self):
        # Linear disagreement weights |i - j| / 2: one step apart 1/2, two steps 1.
        # Observed: cells (1,2), (2,1), (2,3) are one step apart -> 3 * 1/2 = 1.5, / 10 = 0.15.
        # Expected cells e_ij = row_i * col_j / 10:
        #   one step: e12 = 1.2, e21 = 1.6, e23 = 1.2, e32 = 0.6 -> 4.6 * 1/2 = 2.3
        #   two steps: e13 = 1.2, e31 = 0.8                   -> 2.0 * 1   = 2.0
        #   total 4.3, / 10 = 0.43.  kappa_w = 1 - 0.15 / 0.43 = 28/43.
        result = cohen_kappa(ORDINAL_PAIRS, weights="linear")
        assert result.observed == pytest.approx(1 - 0.15)
        assert result.expected == pytest.approx(1 - 0.43)
        assert result.kappa == pytest.approx(28 / 43)

    def test_quadratic_weighted(self):
        # Quadratic weights ((i - j) / 2)^2: one step 1/4, two steps 1.
        # Observed: 3 * 1/4 = 0.75, / 10 = 0.075.  Expected: 4.6 / 4 + 2.0 = 3.15, / 10 = 0.315.
        # kappa_w = 1 - 0.075 / 0.315 = 1 - 5/21 = 16/21.
        result = cohen_kappa(ORDINAL_PAIRS, weights="quadratic")
        assert result.observed == pytest.approx(1 - 0.075)
        assert result.expected == pytest.approx(1 - 0.315)
        assert result.kappa == pytest.approx(16 / 21)

    def test_weights_use_the_given_scale(self):
        # On the 1-5 scale, 1 and 3 are two of four steps apart; the linear ratio is unchanged
        # because every observed distance doubles, but the reported p_o moves to the 1-5 scale.
        pairs = [(1, 1), (1, 3), (3, 3), (3, 1)]
        on_five = cohen_kappa(pairs, weights="linear", categories=[1, 2, 3, 4, 5])
        assert on_five.categories == (1, 2, 3, 4, 5)
        assert on_five.observed == pytest.approx(1 - (2 * 2 / 4) / 4)  # two cells at 2/4
        assert on_five.kappa == pytest.approx(cohen_kappa(pairs, weights="linear").kappa)

    @pytest.mark.parametrize("weights", ["linear", "quadratic"])
    def test_two_categories_weighting_changes_nothing(self, weights):
        assert cohen_kappa(wikipedia_pairs(), weights=weights).kappa == pytest.approx(0.4)

    def test_perfect_agreement(self):
        result = cohen_kappa([("a", "a"), ("b", "b"), ("c", "c"), ("a", "a")])
        assert result.kappa == 1.0
        assert result.observed == 1.0

    def test_complete_disagreement_is_negative(self):
        # p_o = 0, p_e = 0.5 * 0.5 + 0.5 * 0.5 = 0.5 -> kappa = -0.5 / 0.5 = -1.
        assert cohen_kappa([(True, False), (False, True)] * 3).kappa == pytest.approx(-1.0)

    def test_single_shared_category_is_undefined(self):
        result = cohen_kappa([("ok", "ok")] * 5)
        assert result.kappa is None
        assert result.observed == 1.0
        assert result.expected == 1.0
        assert result.n == 5
        assert "p_e = 1" in result.reason

    def test_single_category_weighted_is_undefined_too(self):
        assert cohen_kappa([(3, 3)] * 4, weights="quadratic").kappa is None

    def test_missing_labels_are_dropped(self):
        pairs = [*wikipedia_pairs(), ("yes", None), (None, "no"), (float("nan"), "yes")]
        result = cohen_kappa(pairs)
        assert result.n == 50
        assert result.kappa == pytest.approx(0.4)

    def test_no_shared_items(self):
        result = cohen_kappa([])
        assert result.kappa is None
        assert result.n == 0
        assert result.observed is None and result.expected is None
        assert result.reason == "no items labeled by both annotators"

    def test_label_outside_categories_is_rejected(self):
        with pytest.raises(ValueError, match="not among the categories"):
            cohen_kappa([(1, 6)], categories=[1, 2, 3, 4, 5])

    def test_unknown_weights_rejected(self):
        with pytest.raises(ValueError, match="weights"):
            cohen_kappa([(1, 1)], weights="cubic")

    def test_mixed_types_need_categories_only_when_weighted(self):
        pairs = [(1, "a"), ("a", 1), (1, 1)]
        assert cohen_kappa(pairs).categories == (1, "a")  # nominal: first-seen order
        with pytest.raises(ValueError, match="pass categories"):
            cohen_kappa(pairs, weights="linear")


class TestKrippendorffAlpha:
    def test_binary_two_coders(self):
        # Krippendorff (2011) section A. Coincidences: o00 = 10, o01 = o10 = 4, o11 = 2, so
        # n0 = 14, n1 = 6, n = 20 and alpha = 1 - (n - 1) * o01 / (n0 * n1) = 1 - 76/84 = 0.095.
        units = transpose([0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0])
        result = krippendorff_alpha(units)
        assert isinstance(result, AlphaResult)
        assert result.coincidence == {(0, 0): 10, (0, 1): 4, (1, 0): 4, (1, 1): 2}
        assert result.n_pairable == 20
        assert result.alpha == pytest.approx(1 - 76 / 84)
        assert round(result.alpha, 3) == 0.095

    def test_nominal_two_coders(self):
        # Krippendorff (2011) section B: published alpha = 0.692.
        units = transpose(list("aabbdcccedda"), list("babbbccceddd"))
        assert round(krippendorff_alpha(units).alpha, 3) == 0.692

    def test_canonical_nominal(self):
        # Coincidence marginals: n1 = 9, n2 = 13, n3 = 10, n4 = 5, n5 = 3; n = 40 (unit 12 has
        # one value and drops out). Diagonal 7 + 10 + 8 + 4 + 3 = 32, so 8 off the diagonal.
        # sum_{c != k} n_c n_k = 40^2 - (81 + 169 + 100 + 25 + 9) = 1216.
        # alpha = 1 - (n - 1) * 8 / 1216 = 1 - 312/1216 = 0.743.
        result = krippendorff_alpha(units_from_labels(CANONICAL_LABELS))
        assert result.n_pairable == 40
        assert result.n_units == 11
        totals = {c: sum(result.coincidence[c, k] for k in result.values) for c in result.values}
        assert totals == pytest.approx({1: 9, 2: 13, 3: 10, 4: 5, 5: 3})
        assert result.coincidence[1, 2] == pytest.approx(4 / 3)  # 1 from unit 8, 1/3 from 6
        assert result.observed_disagreement == pytest.approx(8 / 40)
        assert result.expected_disagreement == pytest.approx(1216 / (40 * 39))
        assert result.alpha == pytest.approx(1 - 312 / 1216)
        assert round(result.alpha, 3) == 0.743

    def test_canonical_ordinal(self):
        result = krippendorff_alpha(units_from_labels(CANONICAL_LABELS), level="ordinal")
        assert round(result.alpha, 3) == 0.815

    def test_canonical_interval(self):
        # D_o = 13/30 and D_e = 112/39, so alpha = 1 - (13/30) / (112/39) = 2853/3360 = 0.849.
        result = krippendorff_alpha(units_from_labels(CANONICAL_LABELS), level="interval")
        assert result.observed_disagreement == pytest.approx(13 / 30)
        assert result.expected_disagreement == pytest.approx(112 / 39)
        assert round(result.alpha, 3) == 0.849

    def test_ordinal_distance_follows_marginals(self):
        # Coincidences: o_ac = o_ca = 2 (units 1 and 3), o_bb = 2 (unit 2); so the marginals are
        # n_a = n_b = n_c = 2 and n = 6. Ordinal delta^2(a, c) = (2 + 2 + 2 - (2 + 2) / 2)^2 = 16,
        # delta^2(a, b) = delta^2(b, c) = (2 + 2 - (2 + 2) / 2)^2 = 4.
        # D_o = (o_ac + o_ca) * 16 / 6 = 64/6 = 32/3.
        # D_e = (2 * n_a n_b * 4 + 2 * n_b n_c * 4 + 2 * n_a n_c * 16) / (6 * 5) = 192/30 = 32/5.
        # alpha = 1 - (32/3) / (32/5) = 1 - 5/3 = -2/3: the coders disagree systematically.
        units = [["a", "c"], ["b", "b"], ["c", "a"]]
        result = krippendorff_alpha(units, level="ordinal", categories=["a", "b", "c"])
        assert result.observed_disagreement == pytest.approx(32 / 3)
        assert result.expected_disagreement == pytest.approx(32 / 5)
        assert result.alpha == pytest.approx(-2 / 3)

    def test_list_and_mapping_and_order_agree(self):
        units = units_from_labels(CANONICAL_LABELS)
        shuffled = {unit: list(reversed(values)) for unit, values in reversed(units.items())}
        for level in ("nominal", "ordinal", "interval"):
            expected = krippendorff_alpha(list(units.values()), level=level).alpha
            assert krippendorff_alpha(shuffled, level=level).alpha == pytest.approx(expected)

    def test_perfect_agreement_with_missing_values(self):
        units = [[1, 1, None], [2, None, 2], [3, 3, 3], [None, None, 4]]
        result = krippendorff_alpha(units)
        assert result.alpha == 1.0
        assert result.n_units == 3
        assert result.n_pairable == 7

    def test_nan_is_missing(self):
        with_nan = [[1, 1, math.nan], [2, 1, 2], [math.nan, 3, 3]]
        with_none = [[1, 1, None], [2, 1, 2], [None, 3, 3]]
        assert krippendorff_alpha(with_nan).alpha == krippendorff_alpha(with_none).alpha

    def test_single_value_throughout_is_undefined(self):
        result = krippendorff_alpha([["x", "x"], ["x", "x", None]])
        assert result.alpha is None
        assert result.expected_disagreement == 0
        assert "D_e = 0" in result.reason

    def test_nothing_pairable(self):
        result = krippendorff_alpha({"item-1": [1, None], "item-2": [None, None]})
        assert result.alpha is None
        assert result.n_pairable == 0 and result.n_units == 0
        assert result.reason == "no unit has two or more values to pair"

    def test_interval_needs_numbers(self):
        with pytest.raises(ValueError, match="numbers"):
            krippendorff_alpha([["low", "high"], ["low", "low"]], level="interval")

    def test_unknown_level_rejected(self):
        with pytest.raises(ValueError, match="level"):
            krippendorff_alpha([[1, 1]], level="ratio")


class TestPairwise:
    def wikipedia_labels(self) -> dict[str, dict[int, str]]:
        pairs = wikipedia_pairs()
        return {
            "ann": {item: a for item, (a, _) in enumerate(pairs)},
            "bob": {item: b for item, (_, b) in enumerate(pairs)},
            # cy labeled different items only, and left one blank.
            "cy": {100: "yes", 101: "no", 102: None},
        }

    def test_pairs_and_counts(self):
        results = pairwise_kappas(self.wikipedia_labels())
        assert [(p.annotator_a, p.annotator_b) for p in results] == [
            ("ann", "bob"),
            ("ann", "cy"),
            ("bob", "cy"),
        ]
        ann_bob, ann_cy, _ = results
        assert ann_bob.kappa == pytest.approx(0.4)
        assert ann_bob.n == 50
        assert (ann_bob.only_a, ann_bob.only_b) == (0, 0)
        assert ann_bob.result.confusion[("no", "yes")] == 10

    def test_disjoint_annotators(self):
        _, ann_cy, _ = pairwise_kappas(self.wikipedia_labels())
        assert ann_cy.kappa is None
        assert ann_cy.n == 0
        assert (ann_cy.only_a, ann_cy.only_b) == (50, 2)  # the blank does not count

    def test_weighted_pairs_share_one_scale(self):
        # Without a shared scale, the pair that only used 1 and 2 would weigh 1 vs 2 as the
        # widest gap; with it, every pair sees 1..3 (all labels seen) and gets the same weights.
        labels = {
            "a": {1: 1, 2: 2, 3: 3},
            "b": {1: 1, 2: 2, 3: 3},
            "c": {1: 1, 2: 1},
        }
        results = pairwise_kappas(labels, weights="linear")
        assert all(p.result.categories == (1, 2, 3) for p in results)
        a_c = results[1]
        assert a_c.n == 2
        assert a_c.result.observed == pytest.approx(1 - (1 / 2) / 2)  # one cell half a span off

    def test_units_from_labels_orientation(self):
        units = units_from_labels({"x": {"i1": 1, "i2": 2}, "y": {"i2": 3, "i3": 4}})
        assert units == {"i1": [1, None], "i2": [2, 3], "i3": [None, 4]}

    def test_canonical_through_labels_matches_transposed_table(self):
        table = transpose(*CANONICAL_CODERS.values())
        from_labels = units_from_labels(CANONICAL_LABELS)
        assert list(from_labels.values()) == table
