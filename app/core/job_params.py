"""A job's parameters: everything a worker needs to run a job, as ``JobParams`` (the one
definition the app validates at launch, the launch form starts from, and the trainer takes as
its configuration). They are part of the worker protocol (a job's spec carries them), and
``app.core.protocol`` names them too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Method = Literal["lora", "full"]
# What a job learns: the outputs (supervised fine-tuning, which leaves preference pairs out), or
# the preferences of pairs (Direct Preference Optimisation, which reads pairs only).
Objective = Literal["sft", "dpo"]
Schedule = Literal["cosine", "linear", "constant"]
Precision = Literal["auto", "bf16", "fp32"]
Quantization = Literal["none", "4bit"]
# Models of this many parameters or more train with gradient checkpointing unless told not to.
CHECKPOINTING_FROM_PARAMS = 1_000_000_000


class GenerationParams(BaseModel):
    """How the evaluation generates: greedy by default, so scores are reproducible."""

    model_config = {"extra": "forbid"}

    max_new_tokens: int = Field(
        default=128, ge=1, le=4096, description="Longest output generated per evaluation item."
    )
    temperature: float = Field(
        default=0.0, ge=0.0, le=2.0, description="Sampling temperature; 0 means greedy."
    )
    top_p: float = Field(
        default=1.0, gt=0.0, le=1.0, description="Nucleus sampling: keep this share of the mass."
    )


class JobParams(BaseModel):
    """Everything a worker needs to run a job: the ONE definition of a job's parameters.

    The app validates them at launch, the launch form and the presets start from these
    defaults, and the trainer takes this class as its configuration, so a name nobody knows
    fails loudly (``extra="forbid"``) instead of being dropped. A field that only the app
    reads is marked ``json_schema_extra={"app_only": True}``; a test checks that every other
    field is read somewhere in ``trainer/``.
    """

    model_config = {"extra": "forbid"}

    objective: Objective = Field(
        default="sft",
        description="'sft' learns the items' outputs (preference pairs are left out); 'dpo' "
        "learns from preference pairs to prefer the chosen response over the rejected one.",
    )
    method: Method = Field(
        default="lora",
        description="'lora' trains a low-rank adapter; 'full' trains every weight.",
    )
    dpo_beta: float = Field(
        default=0.1,
        gt=0,
        le=10,
        description="DPO only: how far the model may move from the reference model (smaller "
        "lets it move further).",
    )
    dpo_label_smoothing: float = Field(
        default=0.0,
        ge=0,
        lt=0.5,
        description="DPO only: the assumed share of pairs whose preference is wrong "
        "(conservative DPO); 0 is the plain sigmoid loss.",
    )
    epochs: float | None = Field(
        default=3, gt=0, le=100, description="Passes over the data; ignored when max_steps is set."
    )
    max_steps: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Optimizer steps to run; overrides epochs."
    )
    learning_rate: float = Field(
        default=2e-4, gt=0, le=1, description="Peak learning rate, reached at the end of warmup."
    )
    schedule: Schedule = Field(
        default="cosine", description="Decay after warmup: 'cosine', 'linear' or 'constant'."
    )
    warmup_ratio: float = Field(
        default=0.03,
        ge=0,
        lt=1,
        description="Share of the steps spent ramping the learning rate up from 0.",
    )
    weight_decay: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="AdamW weight decay, on matrices only (not norms or biases).",
    )
    adam_betas: tuple[float, float] = Field(default=(0.9, 0.999), description="AdamW betas.")
    max_grad_norm: float | None = Field(
        default=1.0, gt=0, description="Clip the gradient norm to this; None turns it off."
    )
    batch_size: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Examples per micro-batch, per rank. With packing, a micro-batch's packed "
        "rows hold about as many tokens as this many examples do on average.",
    )
    grad_accum: int = Field(
        default=1, ge=1, le=1024, description="Micro-batches per optimizer step."
    )
    max_seq_len: int = Field(
        default=512,
        ge=16,
        le=32768,
        description="Longest row in tokens; longer examples lose their tail.",
    )
    lora_rank: int = Field(default=16, ge=1, le=1024, description="LoRA rank r.")
    lora_alpha: int = Field(
        default=32,
        ge=1,
        le=4096,
        description="LoRA scale numerator: updates are scaled by alpha / r.",
    )
    lora_dropout: float = Field(default=0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    lora_targets: list[str] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        description="Module names that get a LoRA adapter.",
    )
    eval_interval: int = Field(
        default=50, ge=1, description="Measure the eval loss every this many optimizer steps."
    )
    checkpoint_interval: int = Field(
        default=100, ge=1, description="Save a checkpoint every this many optimizer steps."
    )
    seed: int = Field(default=42, description="Seeds data order, LoRA init and dropout.")
    packing: bool = Field(
        default=True,
        description="Pack examples into rows with a block-diagonal mask (less padding).",
    )
    tokens_per_step: int | None = Field(
        default=None,
        ge=16,
        le=100_000_000,
        description="Packing only: real tokens per optimizer step, over every micro-batch and "
        "rank. Unset, it is batch_size × grad_accum × ranks × the mean example length, so "
        "packing changes speed and not the optimisation.",
    )
    precision: Precision = Field(
        default="auto",
        description="'bf16' computes in bfloat16 (the frozen weights of a LoRA job are loaded in "
        "bf16 too; a full fine-tune keeps fp32 master weights, as mixed precision requires); "
        "'fp32' computes in float32; 'auto' is bf16 on a GPU that supports it, else fp32.",
    )
    gradient_checkpointing: bool | None = Field(
        default=None,
        description="Recompute activations in the backward pass instead of keeping them: "
        "less memory, about a third more compute. Unset, it is on for models of "
        "1B parameters or more.",
    )
    quantization: Quantization = Field(
        default="none",
        description="'4bit' loads the frozen base weights in 4-bit NF4 (QLoRA; LoRA only, on "
        "a CUDA GPU with bitsandbytes installed).",
    )
    save_merged: bool = Field(
        default=False,
        description="LoRA only: also save the model with the adapter merged in (model/merged).",
    )
    generation: GenerationParams = Field(
        default_factory=GenerationParams,
        description="How the evaluation generates the base and tuned outputs.",
    )
