"""The pre-flight check's part of the worker protocol: what a worker receives when it takes a
check of the launch form's settings (``PreflightSpec``) and what it reports back
(``PreflightReport``).

A check answers, in seconds, what a job would otherwise find out hours in: whether the data
renders under the base model's chat template, which of one example's tokens carry the loss
(a wrong template or mask shows at a glance), what the worker's device holds at the job's
batch and length, and how long the job's steps take there.

As in the rest of the worker protocol (``app.core.protocol``), a worker is not trusted: every
number, text and list is bounded, so a bad report is refused with 422 naming the field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field

from app.core.devices import WorkerDevice
from app.core.job_params import JobParams, Objective
from app.core.protocol import MAX_INT, Count, JobSpec, Metric, StartFrom

# The example is shown up to this many tokens: enough for any template's headers and a long
# answer; a longer one says where it was cut.
MAX_EXAMPLE_TOKENS = 2048
# A token's text as shown; real tokens are a few characters, and the whole example stays far
# under the request limit (2,048 × 64 characters, escaped, is under 2 MB).
MAX_TOKEN_CHARS = 64
# Optimizer steps a check runs: the first warms up (kernels, allocator, the DPO reference pass)
# and is not timed, the rest are.
CHECK_STEPS = 4
MAX_CHECK_STEPS = 32
NOT_INCLUDED = "Evaluation and generation are not included."

TemplateSource = Literal["model", "default"]
# Which item the example is: the first conversation that encodes (multi-turn masks are the
# likeliest to be wrong), else the first training item that encodes.
ExampleRule = Literal["first_conversation", "first_item"]
PeakSource = Literal["cuda_max_allocated", "none"]


class PreflightSpec(BaseModel):
    """What a worker receives when it takes a pre-flight check: the launch form's settings."""

    preflight_id: int
    dataset_version_id: int
    base_model: str
    params: JobParams
    start_from: StartFrom | None = Field(
        default=None, description="Start from a finished job's tuned model, not the base model."
    )
    steps: int = Field(
        default=CHECK_STEPS,
        ge=2,
        le=MAX_CHECK_STEPS,
        description="Optimizer steps to run; the first warms up and is not timed.",
    )
    lease_seconds: int = Field(description="How long the check may take before it is failed.")

    def job_spec(self, artifact_dir: str) -> JobSpec:
        """The spec of the job these settings would launch, for the trainer's own steps of a
        job (load the data, what it learns from, the starting model). There is no job: the
        id is 0, and ``artifact_dir`` is a scratch folder (the ``tiny`` model is built there)."""
        return JobSpec(
            job_id=0,
            attempt=1,
            dataset_version_id=self.dataset_version_id,
            base_model=self.base_model,
            params=self.params,
            lease_seconds=self.lease_seconds,
            artifact_dir=artifact_dir,
            start_from=self.start_from,
        )


class ExampleToken(BaseModel):
    """One token of the rendered example: its id, its text as decoded (a token that ends
    inside a character shows nothing; the character comes with the token that completes it),
    and whether it carries the loss (its label is not -100)."""

    id: Count
    text: str = Field(max_length=MAX_TOKEN_CHARS)
    loss: bool


class RenderedExample(BaseModel):
    """One training example, rendered by the chat template and masked as the job trains it."""

    item_id: Count
    kind: str = Field(min_length=1, max_length=16)
    rule: ExampleRule
    side: Literal["example", "chosen"] = Field(
        default="example",
        description="'chosen': a preference pair's prompt with its chosen answer.",
    )
    tokens: list[ExampleToken] = Field(min_length=1, max_length=MAX_EXAMPLE_TOKENS)
    total_tokens: int = Field(ge=1, le=MAX_INT, description="The example's length in tokens.")
    loss_tokens: Count = Field(description="Tokens that carry the loss, over the whole example.")

    @property
    def cut(self) -> bool:
        """Whether the example is longer than the tokens shown."""
        return self.total_tokens > len(self.tokens)


class EncodeCounts(BaseModel):
    """What encoding the training split for the job's objective gave
    (``trainer.data.EncodeStats`` and the counts around it)."""

    items: Count = Field(description="Training items in the version.")
    learnable: Count = Field(description="Those the objective learns from (pairs for DPO).")
    encoded: Count = Field(description="Examples (or pairs) that encode within max_seq_len.")
    truncated_at_turn: Count = 0
    truncated: Count = 0
    dropped: Count = 0
    prefix_mismatches: Count = 0


class StepTiming(BaseModel):
    """A few optimizer steps of the job's settings on the worker's device, and what they say
    of the whole run."""

    timed_steps: int = Field(ge=1, le=MAX_CHECK_STEPS, description="Steps timed after warm-up.")
    warmup_steps: int = Field(default=1, ge=0, le=MAX_CHECK_STEPS)
    seconds_per_step: Metric = Field(gt=0)
    total_steps: int = Field(ge=1, le=MAX_INT, description="The job's optimizer steps.")
    note: str = Field(default=NOT_INCLUDED, max_length=200)

    @computed_field
    @property
    def estimated_seconds(self) -> float:
        """The training's duration: the job's steps at the timed pace."""
        return self.total_steps * self.seconds_per_step


class PeakMemory(BaseModel):
    """The most memory the steps run held on the device; measured on CUDA only."""

    peak_bytes: int | None = Field(default=None, ge=0, le=2**63 - 1)
    source: PeakSource = Field(
        default="none",
        description="'cuda_max_allocated': torch.cuda.max_memory_allocated over the steps run "
        "(the warm-up step included); 'none': not measured (a CPU).",
    )


class PreflightReport(BaseModel):
    """What a worker found, sent when the check succeeds."""

    objective: Objective
    chat_template: TemplateSource = Field(
        description="'model': the base model's own chat template; 'default': the studio's "
        "default template (the tiny model's, and a model without one of its own)."
    )
    counts: EncodeCounts
    example: RenderedExample
    device: WorkerDevice
    timing: StepTiming
    memory: PeakMemory = Field(default_factory=PeakMemory)
    seconds: Metric = Field(ge=0, description="How long the whole check took on the worker.")


class PreflightFailure(BaseModel):
    """Why a check failed: the sentence a job with these settings would fail with."""

    error: str = Field(min_length=1, max_length=20_000)
