"""Generation jobs (design §1): a model writes drafts for people to review. The ONE definition
of what a generation job does and with which settings (``GenerationSpec``), and the payloads a
worker exchanges with the app while it runs one.

Tasks:
- ``draft``: write the output of items that have none (imported prompts, new instructions);
  each lands as a new revision of the item, marked model-drafted.
- ``paraphrase`` / ``back_translate``: rewrite each item's instruction (directly, or through
  the other language and back), each result a new draft linked to its source.
- ``bootstrap``: Self-Instruct rounds: propose new instructions from few-shot prompts of the
  project's approved tasks; the app filters them and keeps the rest as drafts.
- ``try``: answer one prompt with a finished fine-tune's tuned model and the model it started
  from, side by side (claimed before queued jobs: someone waits on the page).

Nothing a job writes is approved: drafts go to people.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from app.core.constraints.base import N_

Task = Literal["draft", "paraphrase", "back_translate", "bootstrap", "try"]
TASKS: tuple[str, ...] = ("draft", "paraphrase", "back_translate", "bootstrap")
TASK_LABELS = {
    "draft": N_("Draft missing outputs"),
    "paraphrase": N_("Augment by paraphrase"),
    "back_translate": N_("Augment by back-translation"),
    "bootstrap": N_("Bootstrap new instructions (Self-Instruct)"),
    "try": N_("Try the model"),
}
# Tasks whose progress is the inputs answered, counted by the app as they are written; the
# others (bootstrap: prompts sent; try: answers given) report theirs in heartbeats.
COUNTS_INPUTS = ("draft", "paraphrase", "back_translate")
# Kinds whose output a model can draft from the prompt alone.
DRAFTABLE_KINDS = ("task", "constraint", "example")
# Kinds whose instruction a model can rewrite into a new item.
AUGMENTABLE_KINDS = ("task", "constraint", "example")
# Prompts per ``generate`` call, and the most inputs one job may take.
MAX_INPUTS = 20_000


class GenerationSpec(BaseModel):
    """A generation job's task and settings; the app validates them at launch and the
    worker takes them as its configuration."""

    model_config = {"extra": "forbid"}

    task: Task = Field(description="What the job writes (see the module's list).")
    max_new_tokens: int = Field(
        default=256, ge=1, le=4096, description="Longest text generated per prompt."
    )
    temperature: float = Field(
        default=0.0,
        ge=0.0,
        le=2.0,
        description="Sampling temperature; 0 is greedy (the same answer every time).",
    )
    top_p: float = Field(
        default=1.0, gt=0.0, le=1.0, description="Nucleus sampling: keep this share of the mass."
    )
    seed: int = Field(
        default=42, ge=0, le=2**31 - 1, description="Seeds sampling and the few-shot draws."
    )
    batch_size: int = Field(default=8, ge=1, le=256, description="Prompts generated together.")
    answer: bool = Field(
        default=False,
        description="Augmentation and bootstrapping: also answer each new instruction (the "
        "answer lands as a model-drafted output); otherwise an augmented draft keeps its "
        "source's output and a generated one has none.",
    )
    rounds: int = Field(default=1, ge=1, le=20, description="Bootstrap: Self-Instruct rounds.")
    prompts_per_round: int = Field(
        default=20, ge=1, le=1000, description="Bootstrap: few-shot prompts sent per round."
    )
    few_shot: int = Field(
        default=8,
        ge=1,
        le=16,
        description="Bootstrap: example instructions per prompt (the paper uses 8: 6 written "
        "by people, 2 generated in earlier rounds).",
    )

    messages: list[dict[str, str]] | None = Field(
        default=None,
        max_length=200,
        description="Try: the chat to answer (role and content per message).",
    )

    @model_validator(mode="after")
    def _messages_for_try(self) -> GenerationSpec:
        if (self.task == "try") != bool(self.messages):
            raise ValueError("a try answers its messages, and only a try has messages")
        return self

    @model_validator(mode="after")
    def _bootstrap_samples(self) -> GenerationSpec:
        if self.task == "bootstrap" and self.temperature == 0.0:
            # Greedy decoding proposes the same instructions from the same prompt: the
            # paper samples (temperature 0.7, top-p 0.5).
            self.temperature, self.top_p = 0.7, 0.5
        return self


class GenerationInput(BaseModel):
    """One item a generation job reads: its content as of the version the job pinned."""

    input_id: int
    item_id: int
    content: dict[str, Any] = Field(description="The item's content (app.core.kinds fields).")


class GenerationInputPage(BaseModel):
    inputs: list[GenerationInput]
    next_cursor: int | None = None


class GenerationResult(BaseModel):
    """What the model wrote for one input: an output (draft), or a new instruction (and
    optionally its answer) for an augmented copy."""

    model_config = {"extra": "forbid"}

    input_id: int
    output: str | None = Field(default=None, max_length=100_000)
    instruction: str | None = Field(default=None, max_length=100_000)
    # Whether generation stopped at an end of turn (False: cut at max_new_tokens).
    finished: bool = True


class Candidate(BaseModel):
    """An instruction a bootstrap round proposed."""

    model_config = {"extra": "forbid"}

    round: int = Field(ge=1, le=1000)
    instruction: str = Field(max_length=20_000)


class GenerationBatch(BaseModel):
    model_config = {"extra": "forbid"}

    attempt: int
    results: list[GenerationResult] = Field(default_factory=list, max_length=500)
    candidates: list[Candidate] = Field(default_factory=list, max_length=2000)
    # Bootstrap: candidates proposed this round that the worker's own parser could not read.
    unreadable: int = Field(default=0, ge=0)
    # Try: the answers of the tuned model ("tuned") and the model it started from ("base").
    answers: dict[Literal["base", "tuned"], Annotated[str, Field(max_length=100_000)]] = Field(
        default_factory=dict
    )


class GenerationReply(BaseModel):
    """How the app took a batch: counts, and the drafts it made from the candidates (each a
    new input, for a job that answers its new instructions)."""

    written: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    kept: list[GenerationInput] = Field(default_factory=list)
