"""The data map: `datamap.build` on hand-made series, then on real training dynamics where a
few items have deliberately wrong outputs and must end up in the "hard" region."""

from __future__ import annotations

import random

import pytest
from transformers import AutoTokenizer

from app.core.kinds import ItemContent
from app.core.protocol import JobParams
from app.jobs import datamap
from trainer.evaluate import item_dynamics
from trainer.tiny import build_tiny
from trainer.train import train

from .conftest import corpus, load_model

# --- build() on hand-made series ---------------------------------------------------------------


def steady(confidence: float, epochs: int = 4) -> list[tuple[float, float]]:
    return [(1.0 - confidence, confidence)] * epochs


def swinging(low: float, high: float, epochs: int = 4) -> list[tuple[float, float]]:
    return [(1.0 - c, c) for c in [low, high] * (epochs // 2)]


def test_build_of_nothing_is_an_empty_map():
    for series in ({}, {7: []}):
        m = datamap.build(series)
        assert m.points == [] and m.hardest() == []
        assert m.counts() == {"easy": 0, "ambiguous": 0, "hard": 0}
        assert (m.confidence_cut, m.variability_cut) == (0.5, 0.05)
        assert m.region_of(7) is None


def _mixed() -> datamap.DataMap:
    series = {i: steady(0.85 + 0.02 * i) for i in range(1, 7)}  # learned and kept
    series[20] = steady(0.1)  # consistently unsure
    series[30] = swinging(0.1, 0.9)  # unsure one epoch, sure the next
    return datamap.build(series)


def test_a_steady_low_confidence_item_is_hard():
    m = _mixed()
    point = next(p for p in m.points if p.item_id == 20)
    assert point.region == "hard" and m.region_of(20) == "hard"
    assert point.confidence == pytest.approx(0.1) and point.variability == 0.0
    assert point.loss == pytest.approx(0.9) and point.epochs == 4


def test_a_swinging_item_is_ambiguous():
    m = _mixed()
    point = next(p for p in m.points if p.item_id == 30)
    assert point.confidence == pytest.approx(0.5) and point.variability == pytest.approx(0.4)
    assert point.region == "ambiguous"


def test_a_steady_high_confidence_item_is_easy():
    m = _mixed()
    assert all(m.region_of(i) == "easy" for i in range(1, 7))
    assert m.counts() == {"easy": 6, "ambiguous": 1, "hard": 1}


def test_hardest_is_least_confident_first_then_steadiest():
    series = {
        5: steady(0.3),
        3: swinging(0.1, 0.5),  # mean 0.3 as well, but it swings
        4: steady(0.3),
        9: steady(0.05),
        1: steady(0.9),
    }
    m = datamap.build(series)
    assert [p.item_id for p in m.hardest()] == [9, 4, 5, 3, 1]
    assert [p.item_id for p in m.hardest(limit=2)] == [9, 4]


def test_confidence_cut_never_exceeds_the_ceiling():
    # Everything is learned: the least confident third is still confident, so nothing is hard.
    series = {i: steady(0.7 + 0.02 * i) for i in range(12)}
    m = datamap.build(series)
    assert m.confidence_cut == datamap.HARD_CONFIDENCE_CEILING == 0.5
    assert m.counts()["hard"] == 0


def test_confidence_cut_adapts_below_the_ceiling():
    # A tiny model is unsure of everything: "hard" is the least confident part, not all of it.
    series = {i: steady(0.02 * i) for i in range(1, 13)}
    m = datamap.build(series)
    assert m.confidence_cut < 0.5
    assert m.region_of(1) == "hard" and m.region_of(12) == "easy"
    assert 0 < m.counts()["hard"] < 12 // 2


def test_variability_cut_never_falls_below_the_floor():
    # Tiny wobbles are not ambiguity, however they rank against each other.
    series = {i: swinging(0.8, 0.8 + 0.005 * i) for i in range(12)}
    m = datamap.build(series)
    assert max(p.variability for p in m.points) < 0.05
    assert m.variability_cut == datamap.AMBIGUOUS_VARIABILITY_FLOOR == 0.05
    assert m.counts()["ambiguous"] == 0


def test_variability_cut_adapts_above_the_floor():
    series = {i: swinging(0.8 - 0.05 * i, 0.8) for i in range(1, 13)}  # all swing, some more
    m = datamap.build(series)
    assert m.variability_cut > 0.05
    assert m.region_of(12) == "ambiguous" and m.region_of(1) != "ambiguous"
    assert 0 < m.counts()["ambiguous"] < 12 // 2


def test_the_most_variable_of_three_items_is_ambiguous():
    m = datamap.build({1: steady(0.9), 2: swinging(0.1, 0.9), 3: steady(0.95)})
    assert m.region_of(2) == "ambiguous"


def test_hard_is_a_third_of_six_unsure_items():
    m = datamap.build({i: steady(0.05 * i) for i in range(1, 7)})
    assert m.counts()["hard"] == 2


def test_a_single_epoch_has_no_variability():
    m = datamap.build({1: [(2.0, 0.2)], 2: [(0.1, 0.95)]})
    assert [p.variability for p in m.points] == [0.0, 0.0]
    assert m.region_of(1) == "hard" and m.region_of(2) == "easy"


# --- build() on real training dynamics ---------------------------------------------------------

NAMES = [
    "Anna", "Boris", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hugo",
    "Ines", "Jonas", "Kira", "Luca", "Mira", "Nils", "Olga", "Pavel",
    "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wim", "Yara",
]  # fmt: skip
UNRELATED = [
    "marble", "thunder", "pencil", "orbit", "velvet", "cactus", "harbor", "lantern",
    "glacier", "mosaic", "quartz", "saddle", "tundra", "violin", "walnut", "zephyr",
]  # fmt: skip
EPOCHS = 10


def _items() -> tuple[dict[int, ItemContent], set[int]]:
    """24 greetings that follow one pattern; 3 of them answer with unrelated words instead."""
    rng = random.Random(0)
    wrong = set(rng.sample(range(len(NAMES)), 3))
    items = {}
    for i, name in enumerate(NAMES):
        output = " ".join(rng.sample(UNRELATED, 4)) if i in wrong else f"Hello, {name}! Welcome."
        items[101 + 3 * i] = ItemContent(
            kind="task", instruction="Greet the person by name.", input=name, output=output
        )
    return items, {101 + 3 * i for i in wrong}


@pytest.fixture(scope="module")
def dynamics(tmp_path_factory):
    """Train for EPOCHS epochs and record every item's (loss, confidence) after each one, the
    way `trainer.worker.run_job` reports them."""
    items, wrong = _items()
    contents = list(items.values())
    path = build_tiny(corpus(contents), tmp_path_factory.mktemp("greet"), vocab_size=400, seed=0)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = load_model(path)
    cfg = JobParams(
        method="full",
        epochs=EPOCHS,
        learning_rate=1e-2,
        warmup_ratio=0.05,
        batch_size=4,
        max_seq_len=128,
        packing=False,
        seed=0,
    )
    series: dict[int, list[tuple[float, float]]] = {item_id: [] for item_id in items}
    epochs_done = 0

    def on_step(step: int, values: dict) -> bool:
        nonlocal epochs_done
        while values["epoch"] >= epochs_done + 1:
            epochs_done += 1
            measured = item_dynamics(model, tokenizer, contents, cfg)
            for item_id, point in zip(items, measured, strict=True):
                assert point is not None
                series[item_id].append(point)
        return False

    train(model, tokenizer, contents, cfg, on_step=on_step)
    assert epochs_done == EPOCHS
    return series, wrong


def test_the_model_learns_the_pattern_but_not_the_wrong_outputs(dynamics):
    series, wrong = dynamics
    last = {item_id: values[-1][1] for item_id, values in series.items()}
    assert all(len(values) == EPOCHS for values in series.values())
    assert min(c for i, c in last.items() if i not in wrong) > 0.6
    assert max(c for i, c in last.items() if i in wrong) < 0.4


def test_wrong_outputs_land_in_the_hard_region(dynamics):
    series, wrong = dynamics
    m = datamap.build(series)
    assert len(wrong) == 3 and len(m.points) == 24
    assert {m.region_of(i) for i in wrong} == {"hard"}
    assert {p.item_id for p in m.hardest(3)} == wrong
    # The model learned the rest, so the 0.5 ceiling keeps them out of "hard".
    assert m.confidence_cut == 0.5
    assert {p.item_id for p in m.points if p.region == "hard"} == wrong
    assert m.counts()["easy"] > m.counts()["ambiguous"]
