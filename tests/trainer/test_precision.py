"""Precision and gradient checkpointing (``trainer.precision``): bf16 and checkpointing train
to fp32's losses on the tiny model, LoRA holds its frozen weights in bf16 and its adapter in
fp32, a full fine-tune keeps fp32 master weights, and evaluation, generation and DPO's
reference pass run under the job's precision."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from app.core.protocol import CHECKPOINTING_FROM_PARAMS, JobParams
from trainer import precision
from trainer.evaluate import evaluate_loss, generate, item_dynamics
from trainer.train import autocast, make_objective, prepare_model, train

from .conftest import load_model
from .pair_data import PAIRS, dpo_cfg

CPU = torch.device("cpu")
STEPS = dict(max_steps=12, batch_size=2, learning_rate=1e-2, warmup_ratio=0, seed=0, lora_rank=8)


def _losses(tiny_dir, tokenizer, items, **params) -> list[float]:
    cfg = JobParams(**{**STEPS, **params})
    return train(load_model(tiny_dir), tokenizer, items, cfg).losses


@pytest.mark.parametrize("method", ["full", "lora"])
def test_checkpointing_and_bf16_train_to_the_losses_of_fp32(tiny_dir, tokenizer, items, method):
    """Twelve steps, packed rows with their 4D masks, compared step by step with fp32 without
    checkpointing. Checkpointing recomputes the same arithmetic: the losses were equal to the
    last bit here, and are held to 1e-6. bf16 autocast differed by at most 0.08% (full) and
    0.04% (LoRA) on this machine's torch, while the loss fell from 5.9 to 2.4 (full); it is held
    to 1%."""
    fp32 = _losses(tiny_dir, tokenizer, items, method=method, precision="fp32")
    assert fp32[-1] < fp32[0] - 0.2  # it learns: the comparison is not of a flat line
    checkpointed = _losses(
        tiny_dir, tokenizer, items, method=method, precision="fp32", gradient_checkpointing=True
    )
    torch.testing.assert_close(checkpointed, fp32, atol=1e-6, rtol=0)
    bf16 = _losses(
        tiny_dir, tokenizer, items, method=method, precision="bf16", gradient_checkpointing=True
    )
    assert bf16 != fp32  # bf16 did compute in bf16
    torch.testing.assert_close(bf16, fp32, rtol=1e-2, atol=0)


def test_lora_in_bf16_holds_frozen_weights_in_bf16_and_the_adapter_in_fp32(tiny_dir):
    cfg = JobParams(method="lora", precision="bf16", gradient_checkpointing=True)
    model = prepare_model(load_model(tiny_dir), cfg)
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    adapter = {p.dtype for n, p in model.named_parameters() if p.requires_grad}
    assert frozen == {torch.bfloat16} and adapter == {torch.float32}
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)
    assert model.get_base_model().is_activation_checkpointing
    # Buffers stay fp32 as from_pretrained leaves them: the rotary frequencies lose nothing.
    assert {b.dtype for b in model.buffers()} == {torch.float32}
    # Preparing it again (train() does, on a model prepared by hand) changes nothing.
    again = prepare_model(model, cfg)
    assert {p.dtype for p in again.parameters() if p.requires_grad} == {torch.float32}


def test_full_fine_tuning_in_bf16_keeps_fp32_master_weights_and_computes_in_bf16(tiny_dir):
    model = prepare_model(load_model(tiny_dir), JobParams(method="full", precision="bf16"))
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    ids = torch.tensor([[1, 5, 7, 9]])
    with autocast(model):
        assert model(input_ids=ids).logits.dtype == torch.bfloat16
    fp32 = prepare_model(load_model(tiny_dir), JobParams(method="full", precision="fp32"))
    with autocast(fp32):
        assert fp32(input_ids=ids).logits.dtype == torch.float32


def test_auto_is_fp32_on_a_cpu_and_checkpointing_is_off_for_a_small_model(tiny_dir):
    cfg = JobParams(method="lora")  # precision 'auto', checkpointing unset
    assert precision.compute_dtype(cfg, CPU) == torch.float32
    model = prepare_model(load_model(tiny_dir), cfg)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert not precision.is_checkpointing(model)
    with autocast(model):
        assert model(input_ids=torch.tensor([[1, 2]])).logits.dtype == torch.float32


def test_checkpointing_left_unset_is_on_from_a_billion_parameters():
    config = LlamaConfig(
        vocab_size=32_000,
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=20,
        num_attention_heads=16,
    )
    with torch.device("meta"):  # sized, never allocated
        large = LlamaForCausalLM(config)
    assert precision.parameter_count(large) >= CHECKPOINTING_FROM_PARAMS
    assert precision.wants_checkpointing(JobParams(), large)
    assert not precision.wants_checkpointing(JobParams(gradient_checkpointing=False), large)
    with torch.device("meta"):
        small = LlamaForCausalLM(LlamaConfig(**{**config.to_dict(), "num_hidden_layers": 2}))
    assert precision.parameter_count(small) < CHECKPOINTING_FROM_PARAMS
    assert not precision.wants_checkpointing(JobParams(), small)
    assert precision.wants_checkpointing(JobParams(gradient_checkpointing=True), small)


def test_a_bf16_lora_model_with_checkpointing_evaluates_and_generates(tiny_dir, tokenizer, items):
    cfg = JobParams(
        **{**STEPS, "max_steps": 30}, method="lora", precision="bf16", gradient_checkpointing=True
    )
    result = train(load_model(tiny_dir), tokenizer, items, cfg)
    model = result.model
    assert precision.is_checkpointing(model) and model.training
    loss = evaluate_loss(model, tokenizer, items, cfg)
    assert math.isfinite(loss) and abs(loss - result.losses[-1]) < 1.0
    dynamics = item_dynamics(model, tokenizer, items, cfg)
    assert all(d is not None and math.isfinite(d[0]) and 0 < d[1] <= 1 for d in dynamics)
    text, _stopped = generate(model, tokenizer, items[0], max_new_tokens=8)
    assert isinstance(text, str)
    assert model.training  # each measurement put the model back as it found it


def test_dpo_scores_its_reference_under_the_policys_precision(tiny_dir, tokenizer):
    """At the first step the policy is the reference; scored in another precision than the
    policy, the reference would give a non-zero margin, so an exact zero and a loss of ln 2
    show they are computed alike. A full fine-tune: its fp32 weights compute in bf16 only under
    autocast (a LoRA job's bf16 weights would compute in bf16 without it)."""
    cfg = dpo_cfg(
        method="full",
        max_steps=2,
        learning_rate=1e-3,
        precision="bf16",
        gradient_checkpointing=True,
    )
    objective = make_objective(tokenizer, PAIRS, cfg, eval_contents=PAIRS)
    seen = []
    train(load_model(tiny_dir), tokenizer, objective, cfg, on_step=lambda s, v: seen.append(v))
    assert seen[0]["reward_margin"] == 0.0
    assert abs(seen[0]["loss"] - math.log(2)) < 1e-6
    fp32_reference = make_objective(tokenizer, PAIRS, dpo_cfg())
    fp32_reference.setup(prepare_model(load_model(tiny_dir), dpo_cfg()), None)
    assert not torch.equal(fp32_reference.reference, objective.reference)
