"""Two CPU processes under torchrun end with identical parameters, equal to one process on the
same global batch (design §6: the loss is normalised across ranks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from app.core import steps
from app.core.protocol import JobParams
from tests.step_cases import STEP_CASES
from tests.trainer import ddp_script
from tests.trainer.conftest import corpus
from trainer.tiny import build_tiny

ROOT = Path(__file__).resolve().parents[2]


def test_two_ranks_match_one_process_on_the_global_batch(tmp_path):
    model_dir = build_tiny(corpus(ddp_script.items()), tmp_path / "tiny", vocab_size=400)
    torchrun = Path(sys.executable).parent / "torchrun"
    result = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node=2",
            str(ROOT / "tests" / "trainer" / "ddp_script.py"),
            str(model_dir),
            str(tmp_path),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    single = ddp_script.run(str(model_dir), 2 * ddp_script.BATCH_PER_RANK)
    # The step itself: the gradient the ranks apply is the single process's, summed over the
    # ranks' micro-batches and divided by the global token count.
    assert ranks[0]["gradients"].keys() == single.first_gradients.keys()
    for name, grad in single.first_gradients.items():
        assert torch.equal(ranks[0]["gradients"][name], ranks[1]["gradients"][name]), name
        torch.testing.assert_close(ranks[0]["gradients"][name], grad, atol=1e-7, rtol=1e-4)
    # The weights after four AdamW steps. AdamW divides each gradient by its running size, so
    # an element whose gradient is near zero turns a rounding difference of the two summation
    # orders into a visible one (up to 3.3e-5 on some CPUs): the bound is a thousandth of the
    # largest change four steps at this learning rate can make.
    expected = single.model.state_dict()
    adam_reach = 4 * ddp_script.config(1).learning_rate
    for name, value in ranks[0]["params"].items():
        assert torch.equal(value, ranks[1]["params"][name]), name  # ranks never drift apart
        torch.testing.assert_close(value, expected[name], atol=1e-3 * adam_reach, rtol=0, msg=name)
    # The losses each rank reports are the global step's loss, the one the single run saw.
    assert ranks[0]["losses"] == ranks[1]["losses"]
    torch.testing.assert_close(
        torch.tensor(ranks[0]["losses"]), torch.tensor(single.losses), atol=1e-5, rtol=1e-5
    )
    # By epochs, the two ranks take the steps the table and app.core.steps give for two ranks.
    case = next(
        c
        for c in STEP_CASES
        if c.ranks == 2
        and c.rows == len(ddp_script.items())
        and c.params == {**ddp_script.EPOCH_RUN, "max_steps": None}
    )
    assert ranks[0]["epoch_run_steps"] == ranks[1]["epoch_run_steps"] == case.steps
    params = JobParams(**{**ddp_script.EPOCH_RUN, "max_steps": None})
    assert steps.total_steps(params, rows=case.rows, ranks=2) == case.steps
    # And training did move the weights: the comparison above is not between two no-ops.
    initial = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    moved = max(float((ranks[0]["params"][n] - initial[n]).abs().max()) for n in initial)
    assert moved > 1e-3
