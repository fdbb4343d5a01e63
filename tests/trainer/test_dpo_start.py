"""Continue from a finished job (SFT, then DPO): a LoRA job's adapter is merged into the weights
before the new adapter goes on, so the reference (the new adapter disabled) is the SFT model and
not the base; a chain of such jobs is followed back to the base; a full fine-tune's folder holds
the whole model."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from app.core.job_paths import JobFolder
from app.core.protocol import JobParams, JobSpec, StartFrom
from trainer.dpo import score_pairs
from trainer.start import load_start
from trainer.train import make_objective, prepare_model, train

from .conftest import load_model
from .pair_data import PAIRS, dpo_cfg


def _sft_job(tiny_dir, tokenizer, items, root, job_id: int, method: str):
    """A finished SFT job's folder, as a worker leaves it: the tiny base and the tuned model."""
    folder = JobFolder(root / "jobs" / str(job_id))
    shutil.copytree(tiny_dir, folder.base)
    cfg = JobParams(
        method=method,
        max_steps=6,
        learning_rate=3e-2 if method == "lora" else 3e-3,
        batch_size=4,
        lora_rank=4,
        lora_dropout=0.0,
        seed=0,
    )
    result = train(load_model(folder.base), tokenizer, items, cfg)
    result.model.save_pretrained(folder.model)
    tokenizer.save_pretrained(folder.model)
    return folder, result.model


def _spec(job_id: int, root, start: StartFrom, **params) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        attempt=1,
        dataset_version_id=1,
        base_model="tiny",
        params=dpo_cfg(**params),
        lease_seconds=120,
        artifact_dir=str(root / "jobs" / str(job_id)),
        start_from=start,
    )


def _start(folder: JobFolder, job_id: int, method: str) -> StartFrom:
    return StartFrom(job_id=job_id, method=method, artifact_dir=str(folder.path))


def test_the_reference_after_a_lora_sft_job_is_the_sft_model(tiny_dir, tokenizer, items, tmp_path):
    parent, sft_model = _sft_job(tiny_dir, tokenizer, items, tmp_path, 1, "lora")
    spec = _spec(
        2,
        tmp_path,
        _start(parent, 1, "lora"),
        method="lora",
        max_steps=5,
        learning_rate=3e-2,
        lora_rank=4,
    )
    model, tok = load_start(spec, [], JobFolder(tmp_path / "jobs" / "2"))
    assert tok.get_vocab() == tokenizer.get_vocab()
    cfg = spec.params
    objective = make_objective(tok, PAIRS, cfg)
    result = train(model, tok, objective, cfg)

    pad = tok.pad_token_id
    sft = score_pairs(sft_model, objective.pairs, cfg, pad, reference=False)  # adapter applied
    base = score_pairs(load_model(tiny_dir), objective.pairs, cfg, pad, reference=False)
    assert (sft - base).abs().max() > 1e-2  # the SFT job did move the model
    torch.testing.assert_close(objective.reference, sft, atol=1e-4, rtol=1e-4)
    # After DPO, the new adapter disabled is still the SFT model, not the base.
    disabled = score_pairs(result.model, objective.pairs, cfg, pad, reference=True)
    torch.testing.assert_close(disabled, sft, atol=1e-4, rtol=1e-4)
    assert json.loads((tmp_path / "jobs" / "2" / "start.json").read_text()) == {
        "job_id": 1,
        "method": "lora",
    }


def test_a_chain_of_lora_jobs_is_followed_back_to_the_base(tiny_dir, tokenizer, items, tmp_path):
    parent, _ = _sft_job(tiny_dir, tokenizer, items, tmp_path, 1, "lora")
    child = JobFolder(tmp_path / "jobs" / "2")
    spec = _spec(
        2,
        tmp_path,
        _start(parent, 1, "lora"),
        method="lora",
        max_steps=4,
        learning_rate=3e-2,
        lora_rank=4,
    )
    model, tok = load_start(spec, [], child)
    dpo = train(model, tok, PAIRS, spec.params)
    dpo.model.save_pretrained(child.model)
    tok.save_pretrained(child.model)

    grandchild = _spec(3, tmp_path, _start(child, 2, "lora"), method="lora")
    model, tok = load_start(grandchild, [], JobFolder(tmp_path / "jobs" / "3"))
    objective = make_objective(tok, PAIRS, grandchild.params)
    cfg, pad = grandchild.params, tok.pad_token_id
    got = score_pairs(model, objective.pairs, cfg, pad, reference=False)
    want = score_pairs(dpo.model, objective.pairs, cfg, pad, reference=False)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_a_full_fine_tune_parent_is_loaded_whole(tiny_dir, tokenizer, items, tmp_path):
    parent, sft_model = _sft_job(tiny_dir, tokenizer, items, tmp_path, 1, "full")
    spec = _spec(2, tmp_path, _start(parent, 1, "full"), method="full")
    model, tok = load_start(spec, [], JobFolder(tmp_path / "jobs" / "2"))
    cfg = spec.params
    objective = make_objective(tok, PAIRS, cfg)
    objective.setup(prepare_model(model, cfg), None)
    sft = score_pairs(sft_model, objective.pairs, cfg, tok.pad_token_id, reference=False)
    torch.testing.assert_close(objective.reference, sft, atol=1e-5, rtol=1e-5)


def test_a_parent_without_its_model_fails_with_a_sentence(tmp_path):
    missing = JobFolder(tmp_path / "jobs" / "1")
    spec = _spec(2, tmp_path, _start(missing, 1, "lora"))
    with pytest.raises(RuntimeError, match="Job 1's tuned model is not in its folder"):
        load_start(spec, [], JobFolder(tmp_path / "jobs" / "2"))
