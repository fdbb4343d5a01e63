"""The memory estimate (``app.core.memory``) against real models built from the same
config.json: weights, gradients and optimizer state byte for byte, and on the CPU the tensors
autograd keeps for the backward pass. The peak a GPU reaches (the logits' backward, the
allocator) is checked by ``bench/memory_gpu.py`` where there is a GPU."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    LlamaConfig,
    Qwen2Config,
    Qwen3Config,
)

from app.core import architecture, base_models, memory  # noqa: E402
from app.core.protocol import CHECKPOINTING_FROM_PARAMS, JobParams  # noqa: E402
from trainer.train import loss_sum, make_optimizer, prepare_model  # noqa: E402

# Small enough for a CPU, with what the estimate must get right: grouped-query attention,
# biases (Llama's attention_bias and mlp_bias; Qwen2's on q, k and v only), tied embeddings,
# a head_dim that is not hidden / heads, norms on the query and key heads (Qwen3).
SMALL = {"vocab_size": 512, "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 3}
CONFIGS = {
    "llama": LlamaConfig(
        **SMALL, num_attention_heads=4, num_key_value_heads=2, attention_bias=True, mlp_bias=True
    ),
    "qwen2": Qwen2Config(
        **SMALL, num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=True
    ),
    "qwen3": Qwen3Config(**SMALL, num_attention_heads=4, num_key_value_heads=2, head_dim=24),
}
TARGETS = {"qv": ["q_proj", "v_proj"], "all": [*architecture.ATTENTION, *architecture.MLP]}
SHAPE = memory.MicroBatch(rows=3, width=20)  # 60 tokens: no tensor shares a weight's shape


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def built(request, tmp_path_factory):
    """A random model of each config, and the architecture read back from its config.json."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(CONFIGS[request.param], attn_implementation="sdpa")
    folder = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    return folder, architecture.from_config(config)


def _as_trained(folder, params: JobParams):
    """The model as the trainer holds it (``trainer.train.prepare_model``): a full fine-tune's
    fp32 master weights, a LoRA job's base in bf16 when it computes in bf16 and its adapter fp32."""
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="sdpa")
    return prepare_model(model, params).train()


def _bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _batch(vocab: int) -> dict:
    """One micro-batch as packed rows come: a 4D boolean mask (here one example a row)."""
    ids = torch.randint(0, vocab, (SHAPE.rows, SHAPE.width))
    return {
        "input_ids": ids,
        "labels": ids,
        "position_ids": torch.arange(SHAPE.width).expand(SHAPE.rows, SHAPE.width),
        "attention_mask": torch.ones(
            SHAPE.rows, 1, SHAPE.width, SHAPE.width, dtype=torch.bool
        ).tril(),
    }


def _loss(model, batch: dict):
    """The trainer's loss: the forward under its autocast, the loss from ``logits.float()``."""
    total, count = loss_sum(model, batch)
    return total / count


CASES = [
    ("full", None, False),
    ("full", None, True),
    ("lora", "qv", False),
    ("lora", "qv", True),
    ("lora", "all", True),
]


def _params(method: str, targets: str | None, bf16: bool = True, **extra) -> JobParams:
    lora = {"lora_rank": 8, "lora_targets": TARGETS[targets]} if targets else {}
    precision = "bf16" if bf16 else "fp32"
    return JobParams(
        method=method, precision=precision, gradient_checkpointing=False, **lora, **extra
    )


class TestParameterParts:
    def test_the_groups_are_the_models_parameters(self, built):
        folder, arch = built
        model = AutoModelForCausalLM.from_pretrained(folder)
        groups = {"embeddings": 0, "attention": 0, "mlp": 0, "norms": 0, "lm_head": 0}
        for name, p in model.named_parameters():
            group = (
                "embeddings"
                if "embed_tokens" in name
                else "lm_head"
                if name.startswith("lm_head")
                else "attention"
                if "_proj" in name and "self_attn" in name
                else "mlp"
                if "mlp." in name
                else "norms"
            )
            groups[group] += p.numel()
        assert architecture.ParamCount(**groups) == arch.parameters()
        assert arch.parameters().total == model.num_parameters()

    @pytest.mark.parametrize("method, targets, bf16", CASES)
    def test_weights_gradients_and_optimizer_state_are_the_tensors(
        self, built, method, targets, bf16
    ):
        folder, arch = built
        params = _params(method, targets, bf16, lora_dropout=0.0)
        model = _as_trained(folder, params)
        got = memory.estimate(arch, params, SHAPE, bf16=bf16)
        assert got.weights == _bytes(model.parameters())
        trainable = [p for p in model.parameters() if p.requires_grad]
        assert got.trainable == sum(p.numel() for p in trainable)
        assert all(p.dtype == torch.float32 for p in trainable)

        torch.manual_seed(1)
        _loss(model, _batch(arch.vocab)).backward()
        assert got.gradients == _bytes(p.grad for p in trainable)
        optimizer = make_optimizer(trainable, params)  # the trainer's: fused AdamW
        optimizer.step()
        states = [optimizer.state[p] for p in trainable]
        assert got.optimizer == _bytes(s[k] for s in states for k in ("exp_avg", "exp_avg_sq"))
        # AdamW's per-tensor step counters, which the estimate leaves out: a scalar each.
        assert all(s["step"].numel() == 1 for s in states)

    def test_autocast_keeps_a_bf16_copy_of_each_trained_linear_weight(self, built):
        folder, arch = built
        model = _as_trained(folder, _params("full", None))
        linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        expected = 2 * sum(_bytes(p for p in m.parameters()) // 4 for m in linear)
        assert memory.estimate(arch, _params("full", None), SHAPE, bf16=True).weight_copies == (
            expected
        )
        assert memory.estimate(arch, _params("full", None), SHAPE, bf16=False).weight_copies == 0


class TestActivationsOnTheCpu:
    """What the forward pass leaves for the backward pass, caught by a saved-tensors hook,
    equals the estimate's layers, its final part (the final norm, the output layer's input, the
    rotary tables) and the fp32 log-softmax over the positions that predict a next token.
    Left out of the comparison:
    the parameters (and autocast's copies of them, counted apart), the token ids and labels.
    Dropout is off: on a CPU PyTorch keeps a noise tensor in the input's dtype where CUDA keeps
    a byte mask, which the estimate counts."""

    @pytest.mark.parametrize("method, targets, bf16", CASES)
    def test_saved_tensors_are_the_estimate(self, built, method, targets, bf16):
        folder, arch = built
        params = _params(method, targets, bf16, lora_dropout=0.0)
        model = _as_trained(folder, params)
        weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
        shapes = {s for p in model.parameters() for s in (tuple(p.shape), tuple(p.shape[::-1]))}
        saved: dict[int, int] = {}
        copies: dict[int, int] = {}

        def keep(t):
            storage = t.untyped_storage()
            if storage.data_ptr() in weights or not t.is_floating_point() or t.dim() == 0:
                return t
            is_copy = t.dim() == 2 and tuple(t.shape) in shapes and SHAPE.tokens not in t.shape
            (copies if is_copy else saved)[storage.data_ptr()] = storage.nbytes()
            return t

        torch.manual_seed(1)
        with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
            _loss(model, _batch(arch.vocab))
        got = memory.estimate(arch, params, SHAPE, bf16=bf16).activations
        log_softmax = 4 * SHAPE.rows * (SHAPE.width - 1) * arch.vocab
        assert sum(saved.values()) == got.layers + got.final + log_softmax
        # The peak the estimate counts for the logits: that output, its gradient and the
        # gradient of its input, over every position.
        assert got.logits == 3 * 4 * SHAPE.tokens * arch.vocab
        if method == "full" and bf16:
            weight_copies = memory.estimate(arch, params, SHAPE, bf16=bf16).weight_copies
            biases = sum(
                m.bias.numel() for m in model.modules() if getattr(m, "bias", None) is not None
            )
            assert sum(copies.values()) == weight_copies - 2 * biases  # autocast casts biases too


class TestRules:
    def test_checkpointing_follows_the_trainers_rule(self):
        assert memory.checkpointing(JobParams(), CHECKPOINTING_FROM_PARAMS) is True
        assert memory.checkpointing(JobParams(), CHECKPOINTING_FROM_PARAMS - 1) is False
        assert memory.checkpointing(JobParams(gradient_checkpointing=False), 10**10) is False
        assert memory.checkpointing(JobParams(gradient_checkpointing=True), 1) is True

    def test_checkpointing_keeps_each_layers_input_and_one_layer_at_a_time(self):
        arch = architecture.from_config(CONFIGS["llama"].to_dict())
        shape = memory.MicroBatch(rows=4, width=1024)
        off = memory.estimate(arch, _params("full", None), shape, bf16=True)
        on = memory.estimate(
            arch, JobParams(method="full", gradient_checkpointing=True), shape, bf16=True
        )
        assert on.activations.layers == arch.layers * shape.tokens * arch.hidden * 4
        assert on.activations.total < off.activations.total
        assert on.activations_other == off.activations.total
        assert off.activations_other == on.activations.total

    def test_four_bit_holds_about_half_a_byte_per_quantised_weight(self):
        arch = architecture.from_config(
            {
                **SMALL,
                "model_type": "llama",
                "hidden_size": 4096,
                "intermediate_size": 14336,
                "num_hidden_layers": 32,
                "num_attention_heads": 32,
                "num_key_value_heads": 8,
                "vocab_size": 128256,
            }  # fmt: skip
        )
        assert 8.0e9 < arch.parameters().total < 8.1e9  # Llama 3.1 8B
        shape = memory.MicroBatch(1, 512)
        four = memory.estimate(arch, _params("lora", "qv", quantization="4bit"), shape, bf16=True)
        half = memory.estimate(arch, _params("lora", "qv"), shape, bf16=True)
        quantised = sum(arch.quantised_weights())
        rest = arch.parameters().total - quantised
        adapter = half.trainable
        nf4 = four.weights - 4 * rest - 4 * adapter
        assert 0.515 < nf4 / quantised < 0.517  # NF4 with double quantisation
        assert half.weights == 2 * arch.parameters().total + 4 * adapter
        assert four.total < half.total

    def test_dpo_scores_its_logits_in_slices(self):
        arch = architecture.from_config({**CONFIGS["qwen2"].to_dict(), "vocab_size": 151936})
        shape = memory.MicroBatch(rows=16, width=1024)
        sft = memory.estimate(arch, _params("lora", "qv"), shape, bf16=True)
        dpo = memory.estimate(arch, _params("lora", "qv", objective="dpo"), shape, bf16=True)
        assert sft.activations.logits == 12 * shape.tokens * arch.vocab
        assert dpo.activations.logits == 12 * memory.DPO_LOGITS_AT_ONCE


class TestConfigs:
    def test_the_tiny_presets_config_is_what_the_trainer_builds(self, tmp_path):
        from trainer.tiny import build_tiny

        texts = ["Name a primary colour.", "Red.", "Add the numbers.", "2 and 3", "5"] * 3
        written = json.loads((build_tiny(texts, tmp_path) / "config.json").read_text())
        preset = base_models.tiny_config()
        assert written["vocab_size"] <= preset["vocab_size"]  # the preset counts the bound
        for key in set(preset) - {"vocab_size"}:
            assert written[key] == preset[key], key
        assert architecture.from_config(written) == architecture.from_config(
            {**preset, "vocab_size": written["vocab_size"]}
        )

    @pytest.mark.parametrize(
        "config, why",
        [
            ({**SMALL, "model_type": "phi3", "num_attention_heads": 4}, "not a family"),
            ({**SMALL, "model_type": "qwen3", "num_attention_heads": 4, "num_experts": 8},
             "mixture of experts"),
            ({**SMALL, "model_type": "llama"}, "num_attention_heads is missing"),
            ({**SMALL, "model_type": "llama", "num_attention_heads": "4"}, "num_attention_heads"),
        ],
    )  # fmt: skip
    def test_what_it_cannot_count_is_refused(self, config, why):
        with pytest.raises(architecture.UnknownArchitecture, match=why):
            architecture.from_config(config)

    def test_a_multimodal_config_is_read_from_its_text_config(self):
        text = {**SMALL, "model_type": "gemma3_text", "num_attention_heads": 4, "head_dim": 16}
        arch = architecture.from_config({"model_type": "gemma3", "text_config": text})
        assert arch.model_type == "gemma3_text" and arch.qk_norm and arch.tied
        assert arch.norms_per_layer == 4
