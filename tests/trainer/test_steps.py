"""The trainer runs exactly the optimizer steps ``app.core.steps.total_steps`` promises (the
number the launch form's estimate shows), for every case of the hand-written table."""

from __future__ import annotations

import pytest

from app.core import steps
from app.core.kinds import ItemContent
from app.core.protocol import JobParams
from tests.step_cases import STEP_CASES, StepCase
from trainer.train import train

from .conftest import ITEMS, load_model

ONE_RANK = [case for case in STEP_CASES if case.ranks == 1]


def _examples(rows: int) -> list[ItemContent]:
    return [ITEMS[i % len(ITEMS)] for i in range(rows)]


@pytest.mark.parametrize("case", ONE_RANK, ids=lambda c: "-".join(map(str, c[:-1])))
def test_the_trainer_runs_the_steps_of_the_table(case: StepCase, tiny_dir, tokenizer):
    # Unpacked, one row is one example: the row count is exact whatever the tokenizer.
    params = JobParams(method="full", packing=False, max_seq_len=64, **case.params)
    steps_seen: list[int] = []
    result = train(
        load_model(tiny_dir),
        tokenizer,
        _examples(case.rows),
        params,
        on_step=lambda step, values: steps_seen.append(step),
    )
    assert result.step == result.total_steps == case.steps
    assert steps_seen == list(range(1, case.steps + 1))
    assert steps.total_steps(params, rows=case.rows, ranks=1) == case.steps


def test_the_step_count_function_follows_the_table():
    for case in STEP_CASES:
        params = JobParams(**case.params)
        assert steps.total_steps(params, rows=case.rows, ranks=case.ranks) == case.steps, case


def test_packed_rows_are_the_trainers_packing(tokenizer):
    """The packing plan the estimate uses is the trainer's own: same rows, same order."""
    from trainer.data import encode_all, pack

    examples, _ = encode_all(tokenizer, _examples(23), max_seq_len=64)
    rows = pack(examples, 64)
    plan = steps.first_fit_decreasing([len(e) for e in examples], 64)
    assert len(plan) == len(rows)
    for row, indices in zip(rows, plan, strict=True):
        assert row.lengths == [len(examples[i]) for i in indices]
        assert sum(row.lengths) <= 64
