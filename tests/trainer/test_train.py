"""The loop: accumulation, overfitting, stopping, LoRA merging, resume, and import hygiene."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer

from app.core.protocol import JobParams
from trainer.data import collate_packed, encode_all, pack
from trainer.evaluate import evaluate_loss, generate
from trainer.train import loss_sum, prepare_model, train

from .conftest import load_model

REPO = Path(__file__).resolve().parents[2]


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_accumulated_micro_batches_equal_one_large_batch(tiny_dir, tokenizer, items):
    examples, _ = encode_all(tokenizer, items, max_seq_len=256)
    rows = pack(examples, 24)  # small rows, so there are several to split
    assert len(rows) >= 3
    pad = tokenizer.pad_token_id

    big_model = load_model(tiny_dir)
    total, n = loss_sum(big_model, collate_packed(rows, pad))
    (total / n).backward()
    big = _grads(big_model)

    acc_model = load_model(tiny_dir)
    micro = [collate_packed([r], pad) for r in rows]
    n_all = sum(int((b["labels"][:, 1:] != -100).sum()) for b in micro)
    assert n_all == n
    for batch in micro:
        total, _ = loss_sum(acc_model, batch)
        (total / n_all).backward()
    acc = _grads(acc_model)

    assert big.keys() == acc.keys()
    for name in big:
        torch.testing.assert_close(acc[name], big[name], atol=1e-6, rtol=1e-5, msg=name)


def _overfit_cfg(**kw) -> JobParams:
    base = dict(
        method="full",
        max_steps=120,
        learning_rate=3e-3,
        warmup_ratio=0.05,
        batch_size=4,
        max_seq_len=128,
        max_grad_norm=1.0,
        seed=0,
    )
    return JobParams(**{**base, **kw})


def test_overfitting_reproduces_a_training_output_and_stops(tiny_dir, tokenizer, items):
    result = train(load_model(tiny_dir), tokenizer, items, _overfit_cfg())
    assert result.losses[-1] < 0.05
    assert evaluate_loss(result.model, tokenizer, items, result_cfg := _overfit_cfg()) < 0.05
    assert result.padding_fraction < 0.5 and result_cfg.packing
    for item in items:
        text, stopped = generate(result.model, tokenizer, item, max_new_tokens=40)
        assert (text, stopped) == (item.output, True)


def test_pad_equal_to_eos_still_learns_to_stop(tiny_pad_eos_dir, items):
    tok = AutoTokenizer.from_pretrained(tiny_pad_eos_dir)
    assert tok.pad_token_id == tok.eos_token_id
    # Unpacked, so rows really are padded with the EOS id.
    cfg = _overfit_cfg(packing=False)
    result = train(load_model(tiny_pad_eos_dir), tok, items, cfg)
    for item in items:
        assert generate(result.model, tok, item, max_new_tokens=40) == (item.output, True)


def test_lora_merged_and_unmerged_outputs_agree(tiny_dir, tokenizer, items):
    cfg = JobParams(method="lora", max_steps=5, learning_rate=1e-2, batch_size=4, lora_rank=4)
    result = train(load_model(tiny_dir), tokenizer, items, cfg)
    model = result.model.eval()
    assert any(p.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n)
    examples, _ = encode_all(tokenizer, items, max_seq_len=128)
    batch = collate_packed(pack(examples, 128), tokenizer.pad_token_id)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids")}
    with torch.no_grad():
        unmerged = model(**inputs).logits
        merged = model.merge_and_unload()(**inputs).logits
    torch.testing.assert_close(merged, unmerged, atol=1e-5, rtol=1e-5)


def test_lora_trains_only_the_adapter(tiny_dir):
    model = prepare_model(load_model(tiny_dir), JobParams(method="lora"))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def _resume_case(tiny_dir, tokenizer, items, tmp_path, method):
    cfg = JobParams(
        method=method,
        max_steps=6,
        learning_rate=5e-3,
        batch_size=1,
        grad_accum=2,
        checkpoint_interval=3,
        lora_dropout=0.1,
        seed=1,
    )
    straight = train(load_model(tiny_dir), tokenizer, items, cfg)

    ckpt = tmp_path / method
    first = train(
        load_model(tiny_dir),
        tokenizer,
        items,
        cfg,
        checkpoint_dir=ckpt,
        on_step=lambda s, m: s == 3,
    )
    assert first.step == 3
    saved = ckpt / "step-3"
    assert {"optimizer.pt", "scheduler.pt", "rng.pt", "trainer_state.json"} <= {
        p.name for p in saved.iterdir()
    }
    resumed = train(load_model(tiny_dir), tokenizer, items, cfg, resume_from=saved)
    assert resumed.step == 6
    assert first.losses == straight.losses[:3]
    torch.testing.assert_close(resumed.losses, straight.losses[3:], atol=1e-6, rtol=0)


def test_resume_continues_the_same_run_full(tiny_dir, tokenizer, items, tmp_path):
    _resume_case(tiny_dir, tokenizer, items, tmp_path, "full")


def test_resume_continues_the_same_run_lora(tiny_dir, tokenizer, items, tmp_path):
    _resume_case(tiny_dir, tokenizer, items, tmp_path, "lora")


def test_tiny_is_deterministic_and_small(tmp_path, items):
    from trainer.tiny import build_tiny

    from .conftest import corpus

    a = build_tiny(corpus(items), tmp_path / "a", vocab_size=400, seed=3)
    b = build_tiny(corpus(items), tmp_path / "b", vocab_size=400, seed=3)
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    ma, mb = load_model(a), load_model(b)
    assert sum(p.numel() for p in ma.parameters()) < 5_000_000
    for (name, pa), (_, pb) in zip(ma.named_parameters(), mb.named_parameters(), strict=True):
        assert torch.equal(pa, pb), name


def test_import_trainer_loads_no_web_stack():
    code = (
        "import sys, trainer.worker, trainer.job, trainer.train, trainer.evaluate, "
        "trainer.checkpoints, trainer.tiny, app.core.steps, app.core.manifest; "
        "bad = [m for m in ('fastapi', 'sqlalchemy') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_an_idle_worker_starts_without_torch():
    """torch takes seconds to import; a worker loads it with its first job, so one that
    `studio run` started notices its parent has gone without that wait."""
    code = (
        "import sys, trainer.__main__, trainer.worker; "
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_loop_accumulation_matches_a_large_batch(tiny_dir, tokenizer, items):
    common = dict(method="full", max_steps=3, learning_rate=1e-3, warmup_ratio=0.0)
    common.update(packing=False, max_grad_norm=None, seed=0)
    large = train(load_model(tiny_dir), tokenizer, items, JobParams(batch_size=4, **common))
    accum = train(
        load_model(tiny_dir), tokenizer, items, JobParams(batch_size=1, grad_accum=4, **common)
    )
    torch.testing.assert_close(accum.losses, large.losses, atol=1e-4, rtol=0)
