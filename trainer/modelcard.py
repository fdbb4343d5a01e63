"""A model card (``README.md``) next to the saved model, in the Hugging Face layout.

YAML front matter (``base_model``, ``library_name``, ``tags``), then what the model is, how it
was trained, on what, how it scored, and how to load it. The card is a pure function of the job
spec and the summary: no timestamps, no host names, so the same job writes the same card.

Values typed by users (the base model, LoRA target names) appear verbatim inside code spans,
so Markdown never interprets them; the app renders the card through its Markdown sanitizer.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from app.core import job_paths, protocol

TEXT_METRICS = (("exact_match", "Exact match"), ("f1", "Token F1"), ("rouge_l", "ROUGE-L"))
_DASH = "—"


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
    parts = [
        _front_matter(spec.base_model, lora),
        _about(spec, lora),
        _parameters(spec.params, lora),
        _data(spec, train_count, eval_count, encoding or {}),
        _evaluation(summary, eval_count),
        _usage(spec.base_model, lora),
        _limitations(spec.base_model, train_count),
    ]
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


# --- sections --------------------------------------------------------------------------------


def _front_matter(base_model: str, lora: bool) -> str:
    method = "lora" if lora else "full"
    return "\n".join(
        [
            "---",
            f"base_model: {_yaml_string(base_model)}",
            f"library_name: {'peft' if lora else 'transformers'}",
            "pipeline_tag: text-generation",
            "tags:",
            "- instruction-studio",
            f"- {method}",
            "---",
        ]
    )


def _about(spec: protocol.JobSpec, lora: bool) -> str:
    what = "a LoRA adapter for" if lora else "a full fine-tune of"
    lines = [
        f"# Fine-tune of {_code(spec.base_model)}",
        "",
        f"This is {what} {_code(spec.base_model)}, trained on dataset version "
        f"{spec.dataset_version_id} of Instruction Studio by job {spec.job_id} "
        f"(attempt {spec.attempt}).",
    ]
    if lora:
        lines += [
            "",
            "Only the adapter weights are stored here; load them on top of the base model.",
        ]
    if spec.base_model == "tiny":
        lines += [
            "",
            "`tiny` is not a hub model: it is a small Llama with a tokenizer trained offline on "
            "the dataset's own text, saved in the job's `base` folder next to this one.",
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
    lines += [f"| {_cell(name)} | {_cell(_value(value))} |" for name, value in rows]
    if not lora:
        lines += ["", "A full fine-tune trains every weight; the `lora_*` settings were unused."]
    if params.max_steps is not None:
        lines += ["", "`max_steps` was set, so it decided the run's length instead of `epochs`."]
    return "\n".join(lines)


def _data(
    spec: protocol.JobSpec, train_count: int, eval_count: int, encoding: Mapping[str, int]
) -> str:
    lines = [
        "## Data",
        "",
        f"Dataset version {spec.dataset_version_id}: "
        f"{_count(train_count, 'training item')} and "
        f"{_count(eval_count, 'held-out evaluation item')}. "
        "Only the assistant turns were trained on, each answer with its end-of-turn token; "
        "system prompts, user turns and the chat template's role markers were masked out.",
    ]
    cuts = [
        (encoding.get("truncated_at_turn", 0), "cut back to whole leading exchanges"),
        (encoding.get("truncated", 0), "cut inside an answer"),
        (encoding.get("dropped", 0), "left out as longer than the maximum length"),
    ]
    cuts = [(n, what) for n, what in cuts if n]
    if cuts:
        said = "; ".join(f"{_count(n, 'training item')} {what}" for n, what in cuts)
        lines += ["", f"At {spec.params.max_seq_len} tokens at most per example: {said}."]
    return "\n".join(lines)


def _evaluation(summary: dict, eval_count: int) -> str:
    lines = ["## Evaluation", ""]
    eval_loss = _number(summary.get("eval_loss"))
    losses = []
    if eval_loss is not None:
        losses += [("Eval loss", _fmt(eval_loss)), ("Perplexity", _fmt(_perplexity(eval_loss)))]
    if (train_loss := _number(summary.get("final_train_loss"))) is not None:
        losses.append(("Final train loss", _fmt(train_loss)))
    if (steps := _number(summary.get("steps"))) is not None:
        losses.append(("Optimizer steps", str(int(steps)) if math.isfinite(steps) else _fmt(steps)))
    if losses:
        lines += ["| Figure | Value |", "| --- | --- |"]
        lines += [f"| {name} | {value} |" for name, value in losses]
        if eval_loss is not None:
            lines += [
                "",
                "Eval loss is the mean loss per answer token on the held-out items; "
                "perplexity is exp(eval loss).",
            ]
    scores = [
        (label, _number(summary.get(f"base_{key}")), _number(summary.get(f"tuned_{key}")))
        for key, label in TEXT_METRICS
    ]
    scores = [row for row in scores if row[1] is not None or row[2] is not None]
    if scores:
        if losses:
            lines.append("")
        lines += ["| Metric | Base | Tuned | Change |", "| --- | --- | --- | --- |"]
        for label, base, tuned in scores:
            change = _fmt(tuned - base, signed=True) if None not in (base, tuned) else _DASH
            lines.append(f"| {label} | {_fmt(base)} | {_fmt(tuned)} | {change} |")
        lines += [
            "",
            "Scores are means over the held-out items of greedy generations from the base model "
            "and from this model (SQuAD-style normalisation; 1.0 is a perfect score).",
        ]
    if eval_loss is None and not scores:
        if losses:
            lines.append("")
        if eval_count == 0:
            lines.append("The dataset version had no evaluation items, so nothing was scored.")
        else:
            lines.append("No evaluation figures were recorded.")
    return "\n".join(lines)


def _usage(base_model: str, lora: bool) -> str:
    folder = '"path/to/this/folder"'
    if lora:
        base = '"path/to/the/job/base"' if base_model == "tiny" else repr(base_model)
        code = "\n".join(
            [
                "from peft import PeftModel",
                "from transformers import AutoModelForCausalLM, AutoTokenizer",
                "",
                f"base = AutoModelForCausalLM.from_pretrained({base})",
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
    fence = "`" * max(3, _longest_run(code, "`") + 1)
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
        f"This model was tuned on {_count(train_count, 'item')} for the task of one dataset; "
        "outside that task it behaves no better than the base model, and it keeps the base "
        "model's limitations and biases. Review its outputs before relying on them."
    )
    if base_model == "tiny":
        line += " `tiny` is a toy model for trying the pipeline; its outputs are not useful."
    return f"## Limitations\n\n{line}"


# --- formatting ------------------------------------------------------------------------------


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


def _fmt(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return _DASH
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) >= 1e6:
        return f"{value:+.4e}" if signed else f"{value:.4e}"
    text = f"{value:+.4f}" if signed else f"{value:.4f}"
    return "0.0000" if text in ("+0.0000", "-0.0000") else text


def _value(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _plain(text: str) -> str:
    """One line of text without control characters (they could end a code span or a table)."""
    return "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else "\ufffd" if _surrogate(c) else c
        for c in text
    )


def _surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def _longest_run(text: str, char: str) -> int:
    return max((len(m) for m in re.findall(f"{re.escape(char)}+", text)), default=0)


def _code(text: str) -> str:
    """``text`` as an inline code span, which Markdown shows exactly as written."""
    text = _plain(text)
    if not text:
        return ""
    fence = "`" * (_longest_run(text, "`") + 1)
    # CommonMark strips one space from each end when both ends have one; a pad keeps the text.
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    # A table splits rows on "|" before it parses code spans, so the pipe needs escaping.
    return _code(text).replace("|", "\\|")


def _yaml_string(text: str) -> str:
    """A YAML double-quoted scalar; anything a YAML stream may not hold is escaped."""
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif _surrogate(char):
            out.append("\\ufffd")
        elif code < 0x20 or 0x7F <= code <= 0x9F or code in (0xFEFF, 0xFFFE, 0xFFFF):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
