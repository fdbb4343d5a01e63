"""A model card (``README.md``) next to the saved model, in the Hugging Face layout.

YAML front matter (``base_model``, ``library_name``, ``tags``), then what the model is, how it
was trained, on what, how it scored, and how to load it. The card is a pure function of the job
spec and the summary: no timestamps, no host names, so the same job writes the same card.

Values typed by users (the base model, LoRA target names) appear verbatim inside code spans,
so Markdown never interprets them; the app renders the card through its Markdown sanitizer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from app.core import job_paths, protocol
from trainer.cardtext import (
    DASH,
    code_span,
    counted,
    fmt,
    longest_run,
    number,
    perplexity,
    table_cell,
    value_text,
    yaml_string,
)

TEXT_METRICS = (("exact_match", "Exact match"), ("f1", "Token F1"), ("rouge_l", "ROUGE-L"))


def write_model_card(
    out: Path,
    spec: protocol.JobSpec,
    summary: dict,
    *,
    train_count: int,
    eval_count: int,
    encoding: Mapping[str, int] | None = None,
) -> Path:
    """Write the card (``job_paths.MODEL_CARD``) into ``out`` for the model of ``spec``; returns
    its path. ``encoding`` holds what encoding the training items cut or dropped
    (``trainer.data.EncodeStats`` as a dict)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / job_paths.MODEL_CARD
    text = render_model_card(
        spec, summary, train_count=train_count, eval_count=eval_count, encoding=encoding
    )
    path.unlink(missing_ok=True)  # replace what is there (PEFT's stub, or a link), never follow it
    path.write_text(text, encoding="utf-8")
    return path


def render_model_card(
    spec: protocol.JobSpec,
    summary: dict,
    *,
    train_count: int,
    eval_count: int,
    encoding: Mapping[str, int] | None = None,
) -> str:
    lora = spec.params.method == "lora"
    dpo = spec.params.objective == "dpo"
    parts = [
        _front_matter(spec.base_model, lora, dpo),
        _about(spec, lora),
        _parameters(spec.params, lora),
        _data(spec, train_count, eval_count, encoding or {}),
        _evaluation(summary, eval_count, dpo),
        _usage(spec, lora),
        _limitations(spec.base_model, train_count),
    ]
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


# --- sections --------------------------------------------------------------------------------


def _front_matter(base_model: str, lora: bool, dpo: bool) -> str:
    method = "lora" if lora else "full"
    return "\n".join(
        [
            "---",
            f"base_model: {yaml_string(base_model)}",
            f"library_name: {'peft' if lora else 'transformers'}",
            "pipeline_tag: text-generation",
            "tags:",
            "- instruction-studio",
            f"- {method}",
            *(["- dpo"] if dpo else []),
            "---",
        ]
    )


def _about(spec: protocol.JobSpec, lora: bool) -> str:
    what = "a LoRA adapter for" if lora else "a full fine-tune of"
    lines = [
        f"# Fine-tune of {code_span(spec.base_model)}",
        "",
        f"This is {what} {code_span(spec.base_model)}, trained on dataset version "
        f"{spec.dataset_version_id} of Instruction Studio by job {spec.job_id} "
        f"(attempt {spec.attempt}).",
    ]
    if spec.params.objective == "dpo":
        beta = code_span(value_text(spec.params.dpo_beta))
        smoothing = code_span(value_text(spec.params.dpo_label_smoothing))
        lines += [
            "",
            "It was trained with DPO (Direct Preference Optimisation, the sigmoid loss of "
            "Rafailov et al., 2023) on preference pairs, to prefer each chosen answer over the "
            f"rejected one, with beta {beta} and label smoothing {smoothing}. The reference "
            "was the frozen starting model.",
        ]
    start = spec.start_from
    if start is not None:
        how = "a full fine-tune"
        if start.method == "lora":
            how = "its LoRA adapter merged into the weights"
        lines += [
            "",
            f"It started from the tuned model of job {start.job_id} ({how}), not from the base "
            "model itself.",
        ]
    if lora:
        on = "that model" if start is not None else "the base model"
        lines += ["", f"Only the adapter weights are stored here; load them on top of {on}."]
    if spec.base_model == "tiny":
        where = "the job's `base` folder next to this one"
        if start is not None:
            where = "the first job's `base` folder"
        lines += [
            "",
            "`tiny` is not a hub model: it is a small Llama with a tokenizer trained offline on "
            f"the dataset's own text, saved in {where}.",
        ]
    return "\n".join(lines)


def _parameters(params: protocol.JobParams, lora: bool) -> str:
    rows = []
    for name, value in params.model_dump().items():
        if isinstance(value, dict):
            rows += [(f"{name}.{k}", v) for k, v in value.items()]
        else:
            rows.append((name, value))
    lines = ["## Training parameters", "", "| Parameter | Value |", "| --- | --- |"]
    lines += [f"| {table_cell(name)} | {table_cell(value_text(value))} |" for name, value in rows]
    if not lora:
        lines += ["", "A full fine-tune trains every weight; the `lora_*` settings were unused."]
    if params.objective == "dpo" and lora and params.lora_dropout:
        lines += ["", "DPO trains without dropout, so `lora_dropout` was not applied."]
    if params.objective == "dpo" and params.packing:
        lines += ["", "DPO batches its pairs padded, not packed: `packing` applies to SFT only."]
    if params.objective != "dpo":
        lines += ["", "Supervised fine-tuning does not use the `dpo_*` settings."]
    if params.max_steps is not None:
        lines += ["", "`max_steps` was set, so it decided the run's length instead of `epochs`."]
    return "\n".join(lines)


def _data(
    spec: protocol.JobSpec, train_count: int, eval_count: int, encoding: Mapping[str, int]
) -> str:
    dpo = spec.params.objective == "dpo"
    unit = "preference pair" if dpo else "training item"
    how = (
        "Each pair's prompt went through the chat template once with the chosen and once with "
        "the rejected answer; only the answers' tokens were scored, each answer with its "
        "end-of-turn token. Items of other kinds were left out."
        if dpo
        else "Only the assistant turns were trained on, each answer with its end-of-turn token; "
        "system prompts, user turns and the chat template's role markers were masked out."
    )
    lines = [
        "## Data",
        "",
        f"Dataset version {spec.dataset_version_id}: "
        f"{counted(train_count, unit)} and "
        f"{counted(eval_count, 'held-out evaluation item')}. {how}",
    ]
    cuts = [
        (encoding.get("truncated_at_turn", 0), "cut back to whole leading exchanges"),
        (encoding.get("truncated", 0), "cut inside an answer"),
        (encoding.get("dropped", 0), "left out as longer than the maximum length"),
    ]
    cuts = [(n, what) for n, what in cuts if n]
    if cuts:
        said = "; ".join(f"{counted(n, unit)} {what}" for n, what in cuts)
        lines += ["", f"At {spec.params.max_seq_len} tokens at most per example: {said}."]
    return "\n".join(lines)


def _evaluation(summary: dict, eval_count: int, dpo: bool = False) -> str:
    lines = ["## Evaluation", ""]
    eval_loss = number(summary.get("eval_loss"))
    losses = []
    base_loss = number(summary.get("base_eval_loss"))  # the starting model's, before training
    if eval_loss is not None and dpo:
        losses.append(("Eval DPO loss", fmt(eval_loss)))
        if base_loss is not None:
            losses.append(("Starting model's eval DPO loss", fmt(base_loss)))
    elif eval_loss is not None:
        losses += [("Eval loss", fmt(eval_loss)), ("Perplexity", fmt(perplexity(eval_loss)))]
        if base_loss is not None:
            losses += [
                ("Starting model's eval loss", fmt(base_loss)),
                ("Starting model's perplexity", fmt(perplexity(base_loss))),
            ]
    if (train_loss := number(summary.get("final_train_loss"))) is not None:
        losses.append(("Final train loss", fmt(train_loss)))
    if (steps := number(summary.get("steps"))) is not None:
        losses.append(("Optimizer steps", str(int(steps)) if math.isfinite(steps) else fmt(steps)))
    if losses:
        lines += ["| Figure | Value |", "| --- | --- |"]
        lines += [f"| {name} | {value} |" for name, value in losses]
        if eval_loss is not None and not dpo:
            lines += [
                "",
                "Eval loss is the mean loss per answer token on the held-out items; "
                "perplexity is exp(eval loss).",
            ]
    if dpo and (pairs := _pair_rows(summary)):
        lines += ["", *pairs]
    scores = [
        (label, number(summary.get(f"base_{key}")), number(summary.get(f"tuned_{key}")))
        for key, label in TEXT_METRICS
    ]
    scores = [row for row in scores if row[1] is not None or row[2] is not None]
    if scores:
        if losses:
            lines.append("")
        lines += ["| Metric | Base | Tuned | Change |", "| --- | --- | --- | --- |"]
        for label, base, tuned in scores:
            change = fmt(tuned - base, signed=True) if None not in (base, tuned) else DASH
            lines.append(f"| {label} | {fmt(base)} | {fmt(tuned)} | {change} |")
        lines += [
            "",
            "Scores are means over the held-out items of greedy generations from the base model "
            "and from this model (SQuAD-style normalisation; 1.0 is a perfect score).",
        ]
    lines += _seen_rows(summary)
    if eval_loss is None and not scores:
        if losses:
            lines.append("")
        if eval_count == 0:
            lines.append("The dataset version had no evaluation items, so nothing was scored.")
        else:
            lines.append("No evaluation figures were recorded.")
    return "\n".join(lines)


def _seen_rows(summary: dict) -> list[str]:
    """The same scores on a sample of the training prompts, apart from the held-out ones."""
    rows = [
        (label, number(summary.get(f"seen_base_{key}")), number(summary.get(f"seen_tuned_{key}")))
        for key, label in (*TEXT_METRICS, ("loss", "Loss"))
    ]
    rows = [row for row in rows if row[1] is not None or row[2] is not None]
    if not rows:
        return []
    lines = ["", "| Seen in training | Base | Tuned | Change |", "| --- | --- | --- | --- |"]
    for label, base, tuned in rows:
        change = fmt(tuned - base, signed=True) if None not in (base, tuned) else DASH
        lines.append(f"| {label} | {fmt(base)} | {fmt(tuned)} | {change} |")
    return [
        *lines,
        "",
        "The same scores (and the loss per answer token) on a sample of the prompts this model "
        "was tuned on: they show what it learned, not how it generalises.",
    ]


def _pair_rows(summary: dict) -> list[str]:
    """The eval pairs' figures: pair accuracy and margin of the starting and the tuned model,
    and the tuned model's implicit reward accuracy and margin."""
    rows = [
        ("Pair accuracy", "start_pair_accuracy", "tuned_pair_accuracy"),
        ("Pair margin", "start_pair_margin", "tuned_pair_margin"),
        ("Reward accuracy", None, "eval_reward_accuracy"),
        ("Reward margin", None, "eval_reward_margin"),
    ]
    found = [
        (label, number(summary.get(start)) if start else None, number(summary.get(tuned)))
        for label, start, tuned in rows
    ]
    if all(start is None and tuned is None for _, start, tuned in found):
        return []
    lines = ["| Eval pairs | Starting model | Tuned |", "| --- | --- | --- |"]
    lines += [f"| {label} | {fmt(start)} | {fmt(tuned)} |" for label, start, tuned in found]
    return [
        *lines,
        "",
        "Pair accuracy is the share of held-out pairs whose chosen answer the model gives the "
        "higher log-probability (summed over the answer's tokens), and pair margin the mean "
        "difference; reward accuracy and margin compare the implicit rewards "
        "beta * (log-probability - reference log-probability) of the two answers.",
    ]


def _usage(spec: protocol.JobSpec, lora: bool) -> str:
    base_model = spec.base_model
    folder = '"path/to/this/folder"'
    if lora:
        base = '"path/to/the/job/base"' if base_model == "tiny" else repr(base_model)
        start = []
        if spec.start_from is not None and spec.start_from.method == "lora":
            parent = f'"path/to/job/{spec.start_from.job_id}/model"'
            start = [
                f"# This adapter sits on job {spec.start_from.job_id}'s model: merge that first.",
                f"base = PeftModel.from_pretrained(base, {parent}).merge_and_unload()",
            ]
        elif spec.start_from is not None:
            base = f'"path/to/job/{spec.start_from.job_id}/model"'
        code = "\n".join(
            [
                "from peft import PeftModel",
                "from transformers import AutoModelForCausalLM, AutoTokenizer",
                "",
                f"base = AutoModelForCausalLM.from_pretrained({base})",
                *start,
                f"model = PeftModel.from_pretrained(base, {folder})",
                f"tokenizer = AutoTokenizer.from_pretrained({folder})",
                "# Optional: fold the adapter into the weights for faster inference.",
                "model = model.merge_and_unload()",
            ]
        )
    else:
        code = "\n".join(
            [
                "from transformers import AutoModelForCausalLM, AutoTokenizer",
                "",
                f"model = AutoModelForCausalLM.from_pretrained({folder})",
                f"tokenizer = AutoTokenizer.from_pretrained({folder})",
            ]
        )
    fence = "`" * max(3, longest_run(code, "`") + 1)
    return "\n".join(
        [
            "## How to load it",
            "",
            f"{fence}python",
            code,
            fence,
            "",
            "The tokenizer saved here carries the chat template used in training; "
            "prompt the model through `tokenizer.apply_chat_template`.",
        ]
    )


def _limitations(base_model: str, train_count: int) -> str:
    line = (
        f"This model was tuned on {counted(train_count, 'item')} for the task of one dataset; "
        "outside that task it behaves no better than the base model, and it keeps the base "
        "model's limitations and biases. Review its outputs before relying on them."
    )
    if base_model == "tiny":
        line += " `tiny` is a toy model for trying the pipeline; its outputs are not useful."
    return f"## Limitations\n\n{line}"
