"""The launch form's estimate counts the optimizer steps the trainer runs: the same function
(``app.core.steps.total_steps``) over the same rows, checked against the hand-written table the
trainer's tests check too. Packed rows depend on the model's tokenizer, so there the estimate
is held to a stated tolerance."""

from __future__ import annotations

import random

import pytest

from app.core import steps
from app.core.protocol import JobParams
from app.jobs import estimate
from tests.job_factories import train_only_version
from tests.step_cases import STEP_CASES

# The form cannot know how many ranks a worker will train on: it estimates for one.
ONE_RANK = [case for case in STEP_CASES if case.ranks == 1]
# Packed micro-batches estimated with the app's tokenizer against those the trainer lays out
# with the tiny model's: equal-work packing sizes a micro-batch by the mean example length, so
# a tokenizer that counts every example longer or shorter changes the rows' length but hardly
# their number. On the demo data (63 items, batch size 8) the two are 8–9 micro-batches an
# epoch for rows of 256, 512 and 1,024 tokens; a rounding of one micro-batch is 11%.
PACKED_TOLERANCE = 0.15


@pytest.mark.parametrize("case", ONE_RANK, ids=lambda c: "-".join(map(str, c[:-1])))
def test_the_estimate_counts_the_steps_of_the_table(db_session, case):
    version = train_only_version(db_session, train_items=case.rows, name=f"Steps {case}")
    assert version.train_count == case.rows
    # Unpacked, a row is an item: the estimate's rows are exact.
    got = estimate.estimate(db_session, version, JobParams(packing=False, **case.params))
    assert got.total_steps == case.steps
    assert got.steps_per_epoch == pytest.approx(
        steps.micro_batches_per_epoch(case.rows, case.batch_size) / case.grad_accum
    )


def test_the_issues_example_runs_eight_steps_not_nine():
    """3 epochs of 5 micro-batches with accumulation 2: 15 micro-batches, 2 a step."""
    params = JobParams(epochs=3, batch_size=1, grad_accum=2)
    assert steps.total_steps(params, rows=5) == 8
    assert steps.steps_per_epoch(params, rows=5) == 2.5


def _naive_first_fit_decreasing(lengths, capacity):
    """The textbook form: scan the open rows for the first with room."""
    rows, room = [], []
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True):
        row = next((r for r, free in enumerate(room) if free >= lengths[index]), None)
        if row is None:
            rows.append([])
            room.append(capacity)
            row = len(rows) - 1
        rows[row].append(index)
        room[row] -= lengths[index]
    return rows


def test_packing_is_first_fit_decreasing():
    rng = random.Random(7)
    for _ in range(2000):
        capacity = rng.randint(1, 60)
        lengths = [rng.randint(1, capacity) for _ in range(rng.randint(0, 40))]
        assert steps.first_fit_decreasing(lengths, capacity) == _naive_first_fit_decreasing(
            lengths, capacity
        ), (lengths, capacity)
    with pytest.raises(ValueError, match="exceeds"):
        steps.first_fit_decreasing([3, 9], 8)


@pytest.mark.parametrize("max_seq_len", [256, 512, 1024])
def test_packed_steps_are_estimated_within_the_tolerance(max_seq_len, tmp_path):
    pytest.importorskip("torch")
    from transformers import AutoTokenizer

    from app.core.kinds import ItemContent
    from app.demo.loader import item_draft, load_content
    from trainer.data import encode_all
    from trainer.tiny import build_tiny
    from trainer.train import sft_batches

    contents = [
        ItemContent.from_row(draft.model_dump())
        for draft in map(item_draft, load_content().items)
        if draft.output.strip()
    ]
    texts = [f"{c.instruction}\n{c.input}\n{c.output}" for c in contents]
    tokenizer = AutoTokenizer.from_pretrained(build_tiny(texts, tmp_path / "tiny", seed=1))
    params = JobParams(max_seq_len=max_seq_len)

    lengths = [estimate.item_tokens(c.model_dump(mode="json"), max_seq_len) for c in contents]
    layout = estimate.epoch_layout(lengths, len(contents), params)
    estimated = steps.micro_batches_per_epoch(layout.rows, layout.rows_per_batch)
    encoded, stats = encode_all(tokenizer, contents, max_seq_len=max_seq_len)
    assert stats.dropped == 0  # every item fits, so both sides pack the same items
    trained = sft_batches(encoded, params, tokenizer.pad_token_id, "bool").per_epoch
    assert abs(estimated - trained) <= PACKED_TOLERANCE * trained, (estimated, trained)


@pytest.mark.parametrize(
    "lengths, params",
    [
        ([100] * 50, JobParams(tokens_per_step=256, grad_accum=4)),  # a budget under one example
        ([], JobParams(tokens_per_step=1000)),  # nothing fits (an eval split all too long)
        ([], JobParams()),
        ([300, 20, 20], JobParams(tokens_per_step=16, max_seq_len=512)),
    ],
)
def test_packing_plans_every_example_once_whatever_the_budget(lengths, params):
    plan = steps.pack_plan(lengths, params)
    placed = sorted(i for batch in plan.batches for row in batch for i in plan.rows[row])
    assert placed == list(range(len(lengths)))
    if lengths:
        assert 1 <= len(plan.batches) <= len(lengths)
    else:
        assert plan.batches == []
