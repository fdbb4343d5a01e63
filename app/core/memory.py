"""How much device memory a fine-tune job needs, from the base model's ``config.json``: its
weights, gradients, optimizer state and activations at the job's micro-batch shape, held as the
trainer holds them (``trainer/precision.py``, ``trainer/train.py``).

**Weights, gradients, optimizer state** are exact sums of tensor sizes (a test builds the
model and compares byte for byte):

- Full fine-tuning keeps fp32 master weights under either precision; bf16 only computes, under
  autocast, which keeps a bf16 copy of every linear weight for the step (``weight_copies``).
- LoRA keeps the frozen base in bf16 when it computes in bf16 (fp32 otherwise) and the adapter
  (A: rank × in, B: out × rank for each targeted module) in fp32.
- 4-bit (QLoRA) holds the decoder layers' linear weights in NF4 with double quantisation
  (``architecture.nf4_bytes``); peft's ``prepare_model_for_kbit_training`` turns everything else
  (embeddings, norms, biases, the output layer) to fp32.
- Gradients: 4 bytes per trained parameter; AdamW: two fp32 moments per trained parameter. Its
  per-tensor ``step`` counters (one fp32 scalar each) are left out. The trainer's AdamW is the
  fused kernel (``trainer.train.make_optimizer``), which updates in place: its step needs no
  memory beyond these (the per-tensor "foreach" loop would hold one more fp32 copy of the
  trained parameters for a moment).

**Activations** are counted as Korthikanti et al. 2022 (*Reducing Activation Recomputation in
Large Transformer Models*, §4.1) count them for a GPT layer: the tensors autograd keeps for the
backward pass, per token and layer, here for a Llama-style layer as transformers 5 writes it. A
fused SDPA kernel keeps no s×s scores (its output and log-sum-exp instead), and o_proj reads
that output as it is; keys and values are repeated to every query head (transformers does so
whenever a mask is passed, and the trainer always passes one); an RMS norm keeps an fp32 copy
of its input; the gated MLP keeps the gate before and after its activation, the up projection
and their product; a linear layer keeps its input only where its weight trains (LoRA: the
adapter's own input, cast to its fp32 and under autocast back to bf16, and its dropout's byte
mask); under autocast each trained linear layer keeps its own bf16 cast of an fp32 input; in a
LoRA job the first layer's input needs no gradient, so what acts on it alone keeps nothing.
With ``h`` hidden, ``q`` the query width (heads × head_dim), ``i`` intermediate, ``a`` heads,
``r`` the LoRA rank, a Llama layer (more than one key/value head) keeps per token:

- full fine-tuning under bf16: ``26h + 8q + 8i + 4a + 8`` bytes (norms ``2·(4h + 4 + 4h)``,
  attention ``4·2q + 4a``, MLP ``3·2i``, linear inputs ``3·2h + 2·2h + 2i``);
- LoRA on q_proj and v_proj under bf16, with dropout: ``14h + 8q + 6i + 4a + 4r + 8``;
- in fp32, the same tensors at 4 bytes a value, one shared input per group of linear layers.

(Korthikanti et al.'s GPT layer keeps ``34h + 5as/h`` at 16 bits, with dropout masks and the s×s
scores.) ``layer_bytes`` spells out each term. Per layer, SDPA also keeps the row's width ×
width mask in the compute dtype (PyTorch turns the boolean mask into an additive one); Gemma 2,
whose soft-capping SDPA cannot do, runs eager attention and keeps its scores instead. Once per
micro-batch: the boolean mask, the rotary tables, the final norm and the output layer's input.
A test holds the count to what a saved-tensors hook catches on the CPU, byte for byte.

The logits: the trainer takes the loss from ``logits.float()`` (``trainer.train.loss_sum``), so
while the loss's backward runs the fp32 log-softmax output, its gradient and the gradient of its
input are alive together: 12 bytes per token per vocabulary entry. DPO scores the labelled
positions in checkpointed slices of at most ``DPO_LOGITS_AT_ONCE`` logits (``trainer/dpo.py``).

With gradient checkpointing each layer keeps only its input (the residual stream, ``h`` values
a token) and one layer at a time is recomputed in the backward pass: the peak is the
checkpoints plus the larger of the logits and one layer's activations.

The total adds the parts as if all were alive at once, which is the backward pass's peak but
for the gradients, which it counts whole (they fill in as the backward pass runs). Left out:
the gradients flowing through the residual stream during the backward pass (a few ``t·h``
tensors), temporaries inside kernels, the batch's token ids, the CUDA context and the caching
allocator's fragmentation (``app.jobs.memory_fit`` keeps a tenth of a device's memory for
those), the bitsandbytes dequantised copy of the one weight a 4-bit layer is multiplying, and
distributed training's gradient buckets. Unchecked without a GPU: what the CUDA kernels keep
(``bench/memory_gpu.py`` measures it); on a CPU, dropout keeps a noise tensor in its input's
dtype rather than a byte mask.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.architecture import ATTENTION, EMBEDDING, MLP, Architecture, Linear, nf4_bytes
from app.core.protocol import CHECKPOINTING_FROM_PARAMS, JobParams

FP32, BF16 = 4, 2
# The logits DPO computes at once, in checkpointed slices (trainer/dpo.py LOGITS_AT_ONCE).
DPO_LOGITS_AT_ONCE = 2**26
# fp32 tensors alive at the peak of the loss's backward pass, per logit: the log-softmax
# output (saved), the gradient arriving at it and the gradient it passes on.
LOGIT_BYTES = 3 * FP32


@dataclass(frozen=True)
class MicroBatch:
    """The shape one micro-batch has on the device: rows × width tokens, padding included."""

    rows: int
    width: int

    @property
    def tokens(self) -> int:
        return self.rows * self.width


@dataclass(frozen=True)
class Activations:
    """Bytes the forward pass leaves for the backward pass at its peak: the decoder layers'
    (with checkpointing, their inputs), the final norm's, output layer's and rotary tables',
    the logits', the attention masks', and with checkpointing the one layer recomputed at a
    time (after the logits are freed, so the larger of the two counts)."""

    layers: int
    final: int
    logits: int
    masks: int
    recomputed: int = 0

    @property
    def total(self) -> int:
        return self.layers + self.final + self.masks + max(self.logits, self.recomputed)


@dataclass(frozen=True)
class MemoryEstimate:
    """A job's memory on one device, in bytes, part by part."""

    parameters: int  # the base model's
    trainable: int
    bf16: bool  # computes in bf16
    checkpointing: bool
    micro_batch: MicroBatch
    weights: int
    weight_copies: int  # autocast's bf16 copies of fp32 weights, for one step
    gradients: int
    optimizer: int  # AdamW's two moments
    activations: Activations
    activations_other: int  # the activations with gradient checkpointing the other way

    @property
    def total(self) -> int:
        fixed = self.weights + self.weight_copies + self.gradients + self.optimizer
        return fixed + self.activations.total


def checkpointing(params: JobParams, parameters: int) -> bool:
    """The trainer's rule: as asked, else on for models of ``CHECKPOINTING_FROM_PARAMS``."""
    if params.gradient_checkpointing is not None:
        return params.gradient_checkpointing
    return parameters >= CHECKPOINTING_FROM_PARAMS


def estimate(
    arch: Architecture, params: JobParams, micro_batch: MicroBatch, *, bf16: bool
) -> MemoryEstimate:
    """The memory ``params`` needs on ``arch`` at ``micro_batch``, computing in bf16 or fp32
    (``bf16``: the precision as the worker resolves it)."""
    groups = arch.parameters()
    base = groups.total
    lora = params.method == "lora"
    four_bit = lora and params.quantization == "4bit"
    adapter = arch.adapter_parameters(params.lora_targets, params.lora_rank) if lora else 0
    trainable = adapter if lora else base
    if four_bit:
        quantised = arch.quantised_weights()
        weights = sum(nf4_bytes(n) for n in quantised) + FP32 * (base - sum(quantised))
    elif lora:
        weights = (BF16 if bf16 else FP32) * base
    else:
        weights = FP32 * base
    weights += FP32 * adapter
    # Autocast casts an fp32 weight to bf16 once per forward pass and keeps the copy: every
    # linear weight of a full fine-tune (biases too), or the adapter's.
    if not bf16:
        copies = 0
    elif lora:
        copies = BF16 * adapter
    else:
        linear = sum(lin.weights + (lin.outputs if lin.bias else 0) for lin in arch.linears())
        copies = BF16 * linear
    on = checkpointing(params, base)
    return MemoryEstimate(
        parameters=base,
        trainable=trainable,
        bf16=bf16,
        checkpointing=on,
        micro_batch=micro_batch,
        weights=weights,
        weight_copies=copies,
        gradients=FP32 * trainable,
        optimizer=2 * FP32 * trainable,
        activations=activations(arch, params, micro_batch, bf16=bf16, checkpointing=on),
        activations_other=activations(
            arch, params, micro_batch, bf16=bf16, checkpointing=not on
        ).total,
    )


@dataclass(frozen=True)
class _Dtypes:
    compute: int  # bytes of the dtype the matmuls run in
    residual: int  # bytes of the residual stream (the embeddings' dtype)
    full: bool
    adapted: frozenset[str]  # full names of the modules with a LoRA adapter
    rank: int
    dropout: bool

    def trains(self, lin: Linear) -> bool:
        return self.full or lin.name in self.adapted


def activations(
    arch: Architecture,
    params: JobParams,
    micro_batch: MicroBatch,
    *,
    bf16: bool,
    checkpointing: bool,
) -> Activations:
    """The activations' peak (module docstring): every layer's saved tensors, or with
    checkpointing each layer's input and one layer recomputed at a time."""
    lora = params.method == "lora"
    four_bit = lora and params.quantization == "4bit"
    compute = BF16 if bf16 else FP32
    # A LoRA job computing in bf16 holds bf16 embeddings, so its residual stream is bf16; a full
    # fine-tune's and a 4-bit job's embeddings are fp32.
    residual = BF16 if bf16 and lora and not four_bit else FP32
    dtypes = _Dtypes(
        compute=compute,
        residual=residual,
        full=not lora,
        adapted=frozenset(lin.name for lin in arch.adapted(params.lora_targets))
        if lora
        else frozenset(),
        rank=params.lora_rank,
        dropout=params.lora_dropout > 0,
    )
    t, rows, width = micro_batch.tokens, micro_batch.rows, micro_batch.width
    per_layer = []
    grad = not lora or any(lin.name == EMBEDDING for lin in arch.adapted(params.lora_targets))
    for k in range(arch.layers):
        kept, grad = layer_bytes(arch, k, dtypes, grad_in=grad)
        per_layer.append(t * kept + rows * _per_row(arch, width, compute))
    lm_head = arch.linears()[-1]
    normed = FP32 if arch.fp32_norm_output else residual
    norm = FP32 * (arch.hidden + 1) + (normed * arch.hidden if not lora else 0)
    # The rotary tables: a cos and a sin per position of each row (the trainer passes position
    # ids), in the residual's dtype, which every layer's attention keeps.
    rotary = 2 * arch.head_dim * residual
    final = t * (norm + _saved_inputs([lm_head], arch.hidden, residual, dtypes) + rotary)
    logit_count = t * arch.vocab
    if params.objective == "dpo":
        logit_count = min(logit_count, DPO_LOGITS_AT_ONCE)
    # Soft-capped logits (Gemma 2) keep their tanh for the backward pass too.
    logits = (LOGIT_BYTES + (compute if arch.logit_softcap else 0)) * logit_count
    # The mask the trainer passes, once: boolean for SDPA, additive fp32 for eager attention.
    masks = rows * width * width * (FP32 if arch.eager_attention else 1)
    if checkpointing:
        kept = arch.layers * t * arch.hidden * residual
        return Activations(kept, final, logits, masks, recomputed=max(per_layer))
    return Activations(sum(per_layer), final, logits, masks)


def _saved_inputs(
    readers: list[Linear],
    width: int,
    in_bytes: int,
    d: _Dtypes,
    *,
    grad: bool = True,
    held: bool = False,
) -> int:
    """Bytes per token that the linear layers reading one input of ``width`` values keep for
    the backward pass.

    A trained weight needs its input: under autocast each layer casts an fp32 input to bf16
    itself and keeps its own copy; otherwise they share the one tensor. A LoRA adapter keeps A's
    output for B and A's own input: peft casts the input to the adapter's fp32, dropout (if any)
    keeps a byte mask, and under bf16 autocast casts it back to a bf16 copy of its own; in fp32
    the dropout's output, or with no dropout the shared input itself. ``grad``: whether the
    input needs a gradient (dropout keeps its mask only then); ``held``: another operation
    keeps the input anyway (nothing more to count for sharing it)."""
    cast = in_bytes == FP32 and d.compute == BF16
    total, shared = 0, False
    for lin in readers:
        if not d.trains(lin):
            continue
        if d.full:
            if cast:
                total += BF16 * width
            else:
                shared = True
            continue
        total += d.rank * d.compute + (width if d.dropout and grad else 0)
        if d.compute == BF16:
            total += BF16 * width
        elif d.dropout:
            total += FP32 * width
        else:
            shared = True
    return total + (in_bytes * width if shared and not held else 0)


def _per_row(arch: Architecture, width: int, compute: int) -> int:
    """Bytes per row a layer's attention keeps beyond its per-token tensors: SDPA, a copy of
    the mask in the compute dtype (PyTorch turns a boolean mask into an additive one per call);
    eager attention, the scores after the softmax in fp32 and (in bf16) their bf16 cast, and
    with soft-capping the tanh of the scores."""
    square = width * width
    if not arch.eager_attention:
        return square * compute
    kept = FP32 + (compute if compute != FP32 else 0) + (compute if arch.attention_softcap else 0)
    return arch.heads * square * kept


def layer_bytes(
    arch: Architecture, index: int, d: _Dtypes, *, grad_in: bool = True
) -> tuple[int, bool]:
    """Bytes per token decoder layer ``index`` keeps for the backward pass, term by term, and
    whether its output needs a gradient. ``grad_in``: whether its input does (in a LoRA job
    the first layer's input, the frozen embeddings' output, does not: an operation on it alone
    keeps nothing)."""
    h, q, i, c, r = arch.hidden, arch.q_width, arch.intermediate, d.compute, d.residual
    lin = {x.short: x for x in arch.layer_linears(index)}
    attention_grad = grad_in or any(d.trains(lin[name]) for name in ATTENTION)
    mlp_grad = attention_grad or any(d.trains(lin[name]) for name in MLP)
    # An RMS norm keeps its input in fp32 and the inverse RMS; a trained norm weight also
    # keeps the normalised input (Llama: in the input's dtype; Gemma: fp32). Gemma 2 and 3 add
    # a norm after each block.
    out = FP32 if arch.fp32_norm_output else None
    norm = FP32 * (h + 1) + ((out or r) * h if d.full else 0)
    after = arch.norms_per_layer == 4
    norms = norm * (grad_in + attention_grad + (attention_grad + mlp_grad) * after)
    if arch.qk_norm:  # on every query head and key head, where those need a gradient
        heads = {"q_proj": (q, arch.heads), "k_proj": (arch.kv_width, arch.kv_heads)}
        for name, (width, count) in heads.items():
            if grad_in or d.trains(lin[name]):
                norms += FP32 * (width + count) + ((out or c) * width if d.full else 0)
    # What the attention keeps: queries, keys and values repeated to every query head (with
    # one key/value head a view, unless autocast casts it: the rotary tables are in the
    # residual's dtype, so under autocast an fp32 stream turns queries and keys fp32 and the
    # attention casts them back, densely), and a fused SDPA kernel its output and the
    # log-sum-exp of each query head (fp32), which o_proj reads as it is (the kernels lay it
    # out so, and transformers' reshape copies nothing); eager attention keeps its scores
    # instead (``_per_row``) and o_proj reads a copy.
    fused = not arch.eager_attention
    view = arch.kv_heads == 1
    keys = arch.kv_width if view and not (r == FP32 and c == BF16) else q
    values = arch.kv_width if view else q
    attention = (c * (q + keys + values) + (c * q + FP32 * arch.heads) * fused) * attention_grad
    mlp = 3 * c * i * mlp_grad  # the gate before and after its activation, the up projection
    inputs = (
        _saved_inputs([lin["q_proj"], lin["k_proj"], lin["v_proj"]], h, r, d, grad=grad_in)
        + _saved_inputs([lin["o_proj"]], q, c, d, grad=attention_grad, held=fused)
        + _saved_inputs([lin["gate_proj"], lin["up_proj"]], h, r, d, grad=attention_grad)
        + _saved_inputs([lin["down_proj"]], i, c, d, grad=mlp_grad)
    )
    return norms + attention + mlp + inputs, mlp_grad
