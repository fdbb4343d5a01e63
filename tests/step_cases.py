"""How many optimizer steps a job runs, written out by hand from what the training loop does:
micro-batches form one stream across epochs (a step may straddle two), so a run takes
ceil(epochs · micro-batches per epoch / (accumulation · ranks)) steps, or max_steps.

The estimate's tests and the trainer's tests both check against this one table."""

from __future__ import annotations

from typing import NamedTuple


class StepCase(NamedTuple):
    rows: int  # rows per epoch: examples unpacked, packed rows with packing
    batch_size: int
    grad_accum: int
    epochs: float | None
    max_steps: int | None
    ranks: int
    steps: int  # what the trainer runs

    @property
    def params(self) -> dict:
        return {
            "batch_size": self.batch_size,
            "grad_accum": self.grad_accum,
            "epochs": self.epochs,
            "max_steps": self.max_steps,
        }


STEP_CASES = [
    # 15 micro-batches, 2 a step: the 8th step borrows the first micro-batch of a 4th pass.
    StepCase(rows=5, batch_size=1, grad_accum=2, epochs=3, max_steps=None, ranks=1, steps=8),
    StepCase(rows=5, batch_size=1, grad_accum=1, epochs=3, max_steps=None, ranks=1, steps=15),
    StepCase(rows=4, batch_size=2, grad_accum=1, epochs=2, max_steps=None, ranks=1, steps=4),
    # 4 micro-batches an epoch (the last one short), 8 in all, 3 a step.
    StepCase(rows=7, batch_size=2, grad_accum=3, epochs=2, max_steps=None, ranks=1, steps=3),
    StepCase(rows=6, batch_size=4, grad_accum=1, epochs=0.5, max_steps=None, ranks=1, steps=1),
    StepCase(rows=5, batch_size=1, grad_accum=2, epochs=3, max_steps=4, ranks=1, steps=4),
    StepCase(rows=3, batch_size=8, grad_accum=4, epochs=1, max_steps=None, ranks=1, steps=1),
    # Under torchrun each rank reads every R-th micro-batch: R ranks take R times fewer steps.
    StepCase(rows=5, batch_size=1, grad_accum=1, epochs=3, max_steps=None, ranks=2, steps=8),
    StepCase(rows=16, batch_size=3, grad_accum=2, epochs=1.5, max_steps=None, ranks=2, steps=3),
    StepCase(rows=16, batch_size=3, grad_accum=2, epochs=1.5, max_steps=None, ranks=1, steps=5),
    StepCase(rows=16, batch_size=3, grad_accum=2, epochs=None, max_steps=4, ranks=2, steps=4),
]
