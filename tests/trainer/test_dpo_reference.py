"""The reference is the frozen starting model: never updated by training, and with LoRA it is
the same weights with the adapter disabled, scoring exactly as a separate frozen copy would."""

from __future__ import annotations

import hashlib

import torch

from trainer.dpo import score_pairs
from trainer.train import make_objective, train

from .conftest import load_model
from .pair_data import PAIRS, dpo_cfg


def _checksum(tensors) -> str:
    digest = hashlib.sha256()
    for name, tensor in tensors:
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _base_weights(model):
    """The named weights that are not the adapter's (LoRA's base layers report as such)."""
    return [
        (n.replace("base_model.model.", "").replace(".base_layer", ""), p)
        for n, p in model.named_parameters()
        if "lora_" not in n
    ]


def test_lora_leaves_the_base_weights_alone(tiny_dir, tokenizer):
    before = _checksum(load_model(tiny_dir).named_parameters())
    cfg = dpo_cfg(method="lora", max_steps=8, learning_rate=2e-2, lora_rank=4)
    result = train(load_model(tiny_dir), tokenizer, PAIRS, cfg)
    assert _checksum(_base_weights(result.model)) == before
    trained = [p for n, p in result.model.named_parameters() if "lora_B" in n]
    assert trained and any(p.abs().sum() > 0 for p in trained)


def test_lora_with_the_adapter_disabled_scores_as_a_frozen_copy(tiny_dir, tokenizer):
    cfg = dpo_cfg(method="lora", max_steps=8, learning_rate=2e-2, lora_rank=4)
    objective = make_objective(tokenizer, PAIRS, cfg)
    result = train(load_model(tiny_dir), tokenizer, objective, cfg)
    pad = tokenizer.pad_token_id
    disabled = score_pairs(result.model, objective.pairs, cfg, pad, reference=True)
    frozen = score_pairs(load_model(tiny_dir), objective.pairs, cfg, pad, reference=False)
    torch.testing.assert_close(disabled, frozen, atol=1e-5, rtol=1e-5)
    # What the loop scored against is that reference too; the tuned model has moved away.
    torch.testing.assert_close(objective.reference, frozen, atol=1e-5, rtol=1e-5)
    tuned = score_pairs(result.model, objective.pairs, cfg, pad, reference=False)
    assert (tuned - frozen).abs().max() > 1e-2


def test_full_fine_tune_keeps_the_reference_it_scored_before_the_first_step(tiny_dir, tokenizer):
    cfg = dpo_cfg(method="full", max_steps=6, learning_rate=1e-3)
    objective = make_objective(tokenizer, PAIRS, cfg, eval_contents=PAIRS[:2])
    steps = []

    def on_step(step, values):
        steps.append(
            _checksum([("train", objective.reference), ("eval", objective.eval_reference)])
        )

    result = train(load_model(tiny_dir), tokenizer, objective, cfg, on_step=on_step)
    assert len(set(steps)) == 1  # never updated while training
    pad = tokenizer.pad_token_id
    start = load_model(tiny_dir)
    frozen = score_pairs(start, objective.pairs, cfg, pad, reference=False)
    torch.testing.assert_close(objective.reference, frozen, atol=1e-5, rtol=1e-5)
    tuned = score_pairs(result.model, objective.pairs, cfg, pad, reference=False)
    assert (tuned - frozen).abs().max() > 1e-2
    # The starting model itself was updated in place: the reference is no copy of it.
    assert _checksum(result.model.named_parameters()) != _checksum(start.named_parameters())


def test_the_fast_answer_scoring_equals_the_models_own_logits(tiny_dir, tokenizer):
    cfg = dpo_cfg()
    objective = make_objective(tokenizer, PAIRS, cfg)
    model = load_model(tiny_dir)
    pad = tokenizer.pad_token_id
    fast = score_pairs(model, objective.pairs, cfg, pad, reference=False, fast=True)
    full = score_pairs(model, objective.pairs, cfg, pad, reference=False, fast=False)
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)


def test_a_model_with_soft_capped_logits_is_scored_through_its_own_forward(tokenizer):
    from transformers import Gemma2Config, Gemma2ForCausalLM

    from trainer.dpo import head_path_agrees

    config = Gemma2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=16,
        # Large weights and a low cap: the capped logits are nothing like the raw ones.
        initializer_range=0.5,
        final_logit_softcapping=0.5,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = Gemma2ForCausalLM(config)
    cfg = dpo_cfg()
    objective = make_objective(tokenizer, PAIRS, cfg)
    pad = tokenizer.pad_token_id
    assert not head_path_agrees(model, objective.pairs, pad)
    objective.setup(model, None)
    assert objective.fast is False
    full = score_pairs(model, objective.pairs, cfg, pad, reference=False, fast=False)
    torch.testing.assert_close(objective.reference, full, atol=1e-5, rtol=1e-5)


def test_answer_logits_scored_in_slices_give_the_same_loss_and_gradients(
    tiny_dir, tokenizer, monkeypatch
):
    """A large vocabulary's logits are scored a slice at a time (recomputed in the backward
    pass): the numbers must not change."""
    from trainer import dpo
    from trainer.pairs import collate_pairs

    cfg = dpo_cfg()

    def step():
        objective = make_objective(tokenizer, PAIRS, cfg)
        model = load_model(tiny_dir)
        objective.setup(model, None)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.02 * torch.randn_like(p, generator=torch.Generator().manual_seed(2)))
        total, _ = objective.loss_sum(model, collate_pairs(objective.pairs, tokenizer.pad_token_id))
        total.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return objective.reference, total.detach(), grads

    whole = step()
    monkeypatch.setattr(dpo, "LOGITS_AT_ONCE", 3 * len(tokenizer))  # three positions a slice
    sliced = step()
    torch.testing.assert_close(sliced[0], whole[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sliced[1], whole[1], atol=1e-6, rtol=1e-6)
    for name, grad in whole[2].items():
        torch.testing.assert_close(sliced[2][name], grad, atol=1e-6, rtol=1e-5, msg=name)
