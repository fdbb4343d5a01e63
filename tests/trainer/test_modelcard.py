"""The model card: front matter, parameters, figures, loading code, and hostile base models."""

from __future__ import annotations

import math
from html import escape

import pytest
import yaml

from app.core.protocol import JobParams, JobSpec
from app.markdown import render_markdown
from trainer.modelcard import write_model_card

SUMMARY = {
    "final_train_loss": 0.4321,
    "padding_fraction": 0.12,
    "steps": 30,
    "eval_loss": 1.5,
    "base_exact_match": 0.0,
    "tuned_exact_match": 0.75,
    "base_f1": 0.125,
    "tuned_f1": 0.8125,
    "base_rouge_l": 0.25,
    "tuned_rouge_l": 0.875,
}


def _spec(base_model: str = "org/base-model", **params) -> JobSpec:
    return JobSpec(
        job_id=17,
        attempt=2,
        dataset_version_id=5,
        base_model=base_model,
        params=JobParams(**params),
        lease_seconds=120,
        artifact_dir="/tmp/job-17",
    )


def _write(tmp_path, spec=None, summary=SUMMARY, train_count=40, eval_count=8) -> str:
    path = write_model_card(
        tmp_path / "model",
        spec or _spec(),
        summary,
        train_count=train_count,
        eval_count=eval_count,
    )
    assert path == tmp_path / "model" / "README.md"
    return path.read_text(encoding="utf-8")


def _split(card: str) -> tuple[dict, str]:
    assert card.startswith("---\n")
    meta, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(meta), body


def _row(body: str, first_cell: str) -> list[str]:
    line = next(x for x in body.splitlines() if x.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_lora_card_front_matter_and_loading_code(tmp_path):
    meta, body = _split(_write(tmp_path, _spec(method="lora")))
    assert meta == {
        "base_model": "org/base-model",
        "library_name": "peft",
        "pipeline_tag": "text-generation",
        "tags": ["instruction-studio", "lora"],
    }
    assert "# Fine-tune of `org/base-model`" in body
    assert "dataset version 5 of Instruction Studio by job 17" in body
    assert "AutoModelForCausalLM.from_pretrained('org/base-model')" in body
    assert "PeftModel.from_pretrained(base, " in body


def test_full_card_front_matter_and_loading_code(tmp_path):
    meta, body = _split(_write(tmp_path, _spec(method="full")))
    assert meta["library_name"] == "transformers"
    assert meta["tags"] == ["instruction-studio", "full"]
    assert "PeftModel" not in body and "peft" not in body
    assert 'AutoModelForCausalLM.from_pretrained("path/to/this/folder")' in body
    assert "the `lora_*` settings were unused" in body


def test_card_lists_every_parameter(tmp_path):
    spec = _spec(
        method="lora", epochs=None, max_steps=250, learning_rate=5e-4, lora_targets=["q_proj", "o"]
    )
    _, body = _split(_write(tmp_path, spec))
    assert _row(body, "`max_steps`") == ["`max_steps`", "`250`"]
    assert _row(body, "`epochs`") == ["`epochs`", "`none`"]
    assert _row(body, "`learning_rate`") == ["`learning_rate`", "`0.0005`"]
    assert _row(body, "`lora_targets`") == ["`lora_targets`", "`q_proj, o`"]
    assert _row(body, "`packing`") == ["`packing`", "`true`"]
    assert _row(body, "`generation.max_new_tokens`") == ["`generation.max_new_tokens`", "`128`"]
    for name in JobParams.model_fields:
        if name != "generation":
            assert f"| `{name}` |" in body, name
    assert "`max_steps` was set" in body


def test_card_has_the_data_and_the_figures(tmp_path):
    _, body = _split(_write(tmp_path, train_count=40, eval_count=8))
    assert "40 training items and 8 held-out evaluation items" in body
    assert _row(body, "Eval loss") == ["Eval loss", "1.5000"]
    assert (
        _row(body, "Perplexity")
        == ["Perplexity", f"{math.exp(1.5):.4f}"]
        == [
            "Perplexity",
            "4.4817",
        ]
    )
    assert _row(body, "Final train loss") == ["Final train loss", "0.4321"]
    assert _row(body, "Optimizer steps") == ["Optimizer steps", "30"]
    assert _row(body, "Exact match") == ["Exact match", "0.0000", "0.7500", "+0.7500"]
    assert _row(body, "Token F1") == ["Token F1", "0.1250", "0.8125", "+0.6875"]
    assert _row(body, "ROUGE-L") == ["ROUGE-L", "0.2500", "0.8750", "+0.6250"]
    assert "## Limitations" in body


def test_card_says_what_encoding_cut_and_nothing_when_it_cut_nothing(tmp_path):
    path = write_model_card(
        tmp_path / "cut",
        _spec(max_seq_len=256),
        SUMMARY,
        train_count=40,
        eval_count=8,
        encoding={"truncated_at_turn": 3, "truncated": 0, "dropped": 1, "prefix_mismatches": 0},
    )
    _, body = _split(path.read_text(encoding="utf-8"))
    assert (
        "At 256 tokens at most per example: 3 training items cut back to whole leading "
        "exchanges; 1 training item left out as longer than the maximum length."
    ) in body
    assert "Only the assistant turns were trained on" in body
    _, plain = _split(_write(tmp_path))
    assert "tokens at most per example" not in plain


def test_perplexity_follows_eval_loss_and_survives_overflow(tmp_path):
    _, body = _split(_write(tmp_path, summary={**SUMMARY, "eval_loss": 0.0}))
    assert _row(body, "Perplexity") == ["Perplexity", "1.0000"]
    _, body = _split(_write(tmp_path, summary={**SUMMARY, "eval_loss": 2.0}))
    assert _row(body, "Perplexity") == ["Perplexity", "7.3891"]
    _, body = _split(_write(tmp_path, summary={**SUMMARY, "eval_loss": 1000.0}))
    assert _row(body, "Perplexity") == ["Perplexity", "inf"]


def test_summary_without_eval_figures_still_makes_a_card(tmp_path):
    summary = {"final_train_loss": None, "padding_fraction": 0.0, "steps": 3}
    card = _write(tmp_path, _spec(method="full"), summary=summary, eval_count=0)
    meta, body = _split(card)
    assert meta["library_name"] == "transformers"
    assert "Perplexity" not in body and "Exact match" not in body
    assert "Final train loss" not in body
    assert _row(body, "Optimizer steps") == ["Optimizer steps", "3"]
    assert "no evaluation items" in body
    for section in ("## Training parameters", "## Data", "## Evaluation", "## How to load it"):
        assert section in body

    _, body = _split(_write(tmp_path, summary={}, eval_count=4))
    assert "No evaluation figures were recorded." in body


def test_partial_scores_show_a_dash(tmp_path):
    summary = {"eval_loss": 1.0, "tuned_f1": 0.5}
    _, body = _split(_write(tmp_path, summary=summary))
    assert _row(body, "Token F1") == ["Token F1", "—", "0.5000", "—"]
    assert "Exact match" not in body


def test_card_is_deterministic(tmp_path):
    first = _write(tmp_path / "a")
    assert _write(tmp_path / "b") == first


def test_tiny_base_model_is_explained(tmp_path):
    _, body = _split(_write(tmp_path, _spec("tiny", method="lora")))
    assert "`tiny` is not a hub model" in body
    assert "from_pretrained('tiny')" not in body


@pytest.mark.parametrize(
    "base_model",
    [
        "./models/my|model",
        "/data/`odd` name/<script>alert(1)</script>",
        '~/a "quoted": model # not a comment',
        "/x\n\n# injected heading\n---\nlibrary_name: evil",
    ],
)
def test_user_text_stays_plain_text(tmp_path, base_model):
    card = _write(tmp_path, _spec(base_model, lora_targets=["q|proj", "v_proj"]))
    meta, body = _split(card)
    assert meta["base_model"] == base_model  # YAML round-trips it exactly
    assert meta["library_name"] == "peft"
    assert "\n# injected" not in card
    html = render_markdown(body)
    one_line = base_model.replace("\n", " ")
    assert f"<h1>Fine-tune of <code>{escape(one_line, quote=False)}</code></h1>" in html
    assert "<script>" not in html
    # The pipe in a LoRA target does not split the table row.
    assert "<td><code>q|proj, v_proj</code></td>" in html
    assert html.count("<h1>") == 1


def test_written_card_replaces_a_peft_stub(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "README.md").write_text("stub")
    assert _write(tmp_path).startswith("---\nbase_model:")
