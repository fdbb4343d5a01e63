"""DPO on two CPU ranks under torchrun takes the steps one process takes on the global batch:
the loss is divided by the pair count of the whole step, across ranks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.trainer import ddp_dpo_script
from tests.trainer.pair_data import texts
from trainer.tiny import build_tiny

ROOT = Path(__file__).resolve().parents[2]


def test_two_ranks_of_dpo_match_one_process_on_the_global_batch(tmp_path):
    model_dir = build_tiny(texts(ddp_dpo_script.pairs()), tmp_path / "tiny", vocab_size=400)
    torchrun = Path(sys.executable).parent / "torchrun"
    result = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node=2",
            str(ROOT / "tests" / "trainer" / "ddp_dpo_script.py"),
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
    single = ddp_dpo_script.run(str(model_dir), 2 * ddp_dpo_script.BATCH_PER_RANK)
    expected = single.model.state_dict()
    for name, value in ranks[0]["params"].items():
        assert torch.equal(value, ranks[1]["params"][name]), name
        # Adam magnifies float noise on near-zero gradients (the chosen and rejected sides share
        # their prompt, so its gradients nearly cancel): a step is 5e-3, this is far below it.
        torch.testing.assert_close(value, expected[name], atol=1e-4, rtol=1e-3, msg=name)
    assert ranks[0]["losses"] == ranks[1]["losses"]
    torch.testing.assert_close(
        torch.tensor(ranks[0]["losses"]), torch.tensor(single.losses), atol=1e-5, rtol=1e-5
    )
    assert len(set(single.losses)) == len(single.losses)  # the loss moved
