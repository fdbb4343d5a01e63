"""A decoder-only model's shapes, read from its ``config.json``: the parameters of each tensor
group and the linear layers a LoRA adapter can target, as transformers builds them.

It knows the dense Llama-style decoders people fine-tune on one or a few GPUs: Llama (and
SmolLM), Mistral, Qwen2/Qwen2.5 (biases on q, k and v), Qwen3 (norms on q and k), Gemma,
Gemma 2 and Gemma 3 (four norms a layer; Gemma 2 soft-caps its attention scores and logits).
Each layer is an attention block (``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``, grouped-query
when ``num_key_value_heads`` is below ``num_attention_heads``) and a gated MLP (``gate_proj``,
``up_proj``, ``down_proj``). Fused
projections (Phi-3), mixtures of experts and other families are refused rather than guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Per model_type: (q/k/v biases, o_proj bias; None = the config's attention_bias), norms per
# layer, RMS norms on the query and key heads, tied embeddings when config.json leaves it out
# (transformers omits a value equal to its class default).
_FAMILIES: dict[str, tuple[bool | None, bool | None, int, bool, bool]] = {
    "llama": (None, None, 2, False, False),
    "mistral": (False, False, 2, False, False),
    "qwen2": (True, False, 2, False, False),
    "qwen3": (None, None, 2, True, False),
    "gemma": (None, None, 2, False, True),
    "gemma2": (None, None, 4, False, True),
    "gemma3_text": (None, None, 4, True, True),
}
# Keys that mark a mixture of experts, whose layers this does not count.
_EXPERT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
EMBEDDING = "model.embed_tokens"


class UnknownArchitecture(ValueError):
    """A config this module cannot count; ``model_type`` names what it said it was."""

    def __init__(self, model_type: str, why: str) -> None:
        super().__init__(f"The architecture {model_type!r} cannot be counted: {why}.")
        self.model_type = model_type


@dataclass(frozen=True)
class Linear:
    """One linear layer: its full module name (as peft matches targets), in and out features,
    whether it has a bias, and whether it is one of the decoder layers' (4-bit quantises those;
    the output layer stays unquantised)."""

    name: str
    inputs: int
    outputs: int
    bias: bool
    in_layer: bool = True

    @property
    def weights(self) -> int:
        return self.inputs * self.outputs

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class ParamCount:
    """Parameters by tensor group: the embedding matrix, the attention projections (weights and
    biases, every layer), the MLPs, every norm (the query/key norms included), and the output
    layer (0 when it is the embedding matrix, tied)."""

    embeddings: int
    attention: int
    mlp: int
    norms: int
    lm_head: int

    @property
    def total(self) -> int:
        return self.embeddings + self.attention + self.mlp + self.norms + self.lm_head


@dataclass(frozen=True)
class Architecture:
    model_type: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    norms_per_layer: int
    qk_norm: bool
    # Gemma 2: attention soft-capping, which SDPA cannot do, so transformers runs the eager
    # attention (it keeps the s×s scores); and the logits soft-capped too.
    # Gemma's norms scale in fp32 (x · (1 + w)), so a trained one keeps an fp32 product.
    fp32_norm_output: bool = False
    eager_attention: bool = False
    attention_softcap: bool = False
    logit_softcap: bool = False

    @property
    def q_width(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim

    def layer_linears(self, index: int) -> list[Linear]:
        """Layer ``index``'s linear layers, named as in transformers."""
        h, i, q, kv = self.hidden, self.intermediate, self.q_width, self.kv_width
        attn, mlp = f"model.layers.{index}.self_attn", f"model.layers.{index}.mlp"
        return [
            Linear(f"{attn}.q_proj", h, q, self.qkv_bias),
            Linear(f"{attn}.k_proj", h, kv, self.qkv_bias),
            Linear(f"{attn}.v_proj", h, kv, self.qkv_bias),
            Linear(f"{attn}.o_proj", q, h, self.o_bias),
            Linear(f"{mlp}.gate_proj", h, i, self.mlp_bias),
            Linear(f"{mlp}.up_proj", h, i, self.mlp_bias),
            Linear(f"{mlp}.down_proj", i, h, self.mlp_bias),
        ]

    def linears(self) -> list[Linear]:
        """Every linear layer, the output layer last (an embedding-shaped one when tied)."""
        found = [lin for k in range(self.layers) for lin in self.layer_linears(k)]
        return [*found, Linear("lm_head", self.hidden, self.vocab, False, in_layer=False)]

    def parameters(self) -> ParamCount:
        one = self.layer_linears(0)

        def size(lin: Linear) -> int:
            return lin.weights + (lin.outputs if lin.bias else 0)

        attention = sum(size(lin) for lin in one if lin.short in ATTENTION)
        mlp = sum(size(lin) for lin in one if lin.short in MLP)
        norms = self.norms_per_layer * self.hidden + (2 * self.head_dim if self.qk_norm else 0)
        embeddings = self.vocab * self.hidden
        return ParamCount(
            embeddings=embeddings,
            attention=attention * self.layers,
            mlp=mlp * self.layers,
            norms=norms * self.layers + self.hidden,  # and the final norm
            lm_head=0 if self.tied else embeddings,
        )

    def quantised_weights(self) -> list[int]:
        """The weight matrices 4-bit loading quantises, by size: the decoder layers' linear
        layers (embeddings, norms, biases and the output layer stay unquantised)."""
        return [lin.weights for lin in self.linears() if lin.in_layer]

    def adapted(self, targets: Iterable[str]) -> list[Linear]:
        """The modules a LoRA adapter with these ``target_modules`` wraps: as peft matches a
        list, a module whose full name is a target or ends with ``.`` and a target. The
        embedding matrix counts too (peft adapts an embedding as well)."""
        wanted = [t for t in targets if t]
        embedding = Linear(EMBEDDING, self.vocab, self.hidden, False, in_layer=False)
        return [
            lin
            for lin in [*self.linears(), embedding]
            if any(lin.name == t or lin.name.endswith("." + t) for t in wanted)
        ]

    def adapter_parameters(self, targets: Iterable[str], rank: int) -> int:
        """LoRA's A (rank × in) and B (out × rank) of each adapted module."""
        return sum(rank * (lin.inputs + lin.outputs) for lin in self.adapted(targets))


def _int(config: Mapping[str, Any], key: str, model_type: str, default: int | None = None) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UnknownArchitecture(model_type, f"{key} is missing or not a positive whole number")
    return value


def from_config(config: Mapping[str, Any]) -> Architecture:
    """The architecture a ``config.json`` (as a dict) describes; ``UnknownArchitecture`` when
    it is not one of the families above. A multimodal config's ``text_config`` is read when the
    top level holds no ``hidden_size``."""
    if "hidden_size" not in config and isinstance(config.get("text_config"), Mapping):
        config = config["text_config"]
    model_type = str(config.get("model_type") or "")
    if model_type not in _FAMILIES:
        raise UnknownArchitecture(model_type or "unknown", "it is not a family the estimate knows")
    if any(_number(config.get(key)) > 1 for key in _EXPERT_KEYS):
        raise UnknownArchitecture(model_type, "it is a mixture of experts")
    qkv_bias, o_bias, norms, qk_norm, tied_default = _FAMILIES[model_type]
    gemma2 = model_type == "gemma2"  # soft-caps by default
    attention_bias = bool(config.get("attention_bias", False))
    hidden = _int(config, "hidden_size", model_type)
    heads = _int(config, "num_attention_heads", model_type)
    head_dim = config.get("head_dim")
    if head_dim is None:
        head_dim = 256 if model_type.startswith("gemma") else hidden // heads
    return Architecture(
        model_type=model_type,
        hidden=hidden,
        intermediate=_int(config, "intermediate_size", model_type),
        layers=_int(config, "num_hidden_layers", model_type),
        heads=heads,
        kv_heads=_int(config, "num_key_value_heads", model_type, default=heads),
        head_dim=_int({"head_dim": head_dim}, "head_dim", model_type),
        vocab=_int(config, "vocab_size", model_type),
        tied=bool(config.get("tie_word_embeddings", tied_default)),
        qkv_bias=attention_bias if qkv_bias is None else qkv_bias,
        o_bias=attention_bias if o_bias is None else o_bias,
        mlp_bias=bool(config.get("mlp_bias", False)),
        norms_per_layer=norms,
        qk_norm=qk_norm,
        fp32_norm_output=model_type.startswith("gemma"),
        eager_attention=model_type == "gemma2",
        attention_softcap=config.get("attn_logit_softcapping", gemma2 or None) is not None,
        logit_softcap=config.get("final_logit_softcapping", gemma2 or None) is not None,
    )


def nf4_bytes(weights: int) -> int:
    """Bytes bitsandbytes holds for one NF4 weight matrix with double quantisation (what the
    trainer asks for): two weights a byte, one 8-bit scale per block of 64, one fp32 scale per
    256 of those, and per matrix the two code tables (16 and 256 fp32) and an fp32 offset."""
    blocks = math.ceil(weights / 64)
    return math.ceil(weights / 2) + blocks + 4 * math.ceil(blocks / 256) + 4 * (16 + 256 + 1)


def _number(value: object) -> float:
    """A config value as a number, 0 when it is none (a hand-edited config may hold text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return value
