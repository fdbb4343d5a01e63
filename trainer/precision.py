"""How a job's model holds its weights and computes: ``JobParams.precision``,
``gradient_checkpointing`` and ``quantization``, the rule in one place.

**Precision.** ``'auto'`` is bf16 on a CUDA GPU that computes in bf16 natively (compute
capability 8.0 or newer), else fp32: a CPU stays fp32 unless asked. ``'bf16'`` runs the forward
and backward passes under bf16 autocast, on a CPU or a GPU; ``'fp32'`` computes in float32.
Under bf16 what the weights are held in depends on whether they train:

- LoRA: the frozen base weights are loaded and kept in bf16 (half the memory of fp32), and
  the adapter is fp32 (peft's ``autocast_adapter_dtype``), so its small updates are not
  rounded away.
- Full fine-tuning: fp32 master weights, and only the computation in bf16 (mixed precision).
  bf16 keeps 8 significant bits, so AdamW's update to a bf16 weight is lost whenever it is
  under about 1/256 of the weight, which late in training is most of them.

Losses and log-probabilities are taken in fp32 from the logits (``.float()``) either way, and
buffers (the rotary frequencies) stay fp32, as ``from_pretrained`` leaves them.

**4-bit (QLoRA, LoRA only).** The frozen base is loaded as NF4 with double quantisation by
bitsandbytes on this rank's GPU and computes in the job's compute dtype (bf16 unless fp32 is
asked); peft's ``prepare_model_for_kbit_training`` keeps norms and embeddings in fp32 and the
adapter is fp32. bitsandbytes is imported (by transformers) only when a job asks for 4-bit;
``trainer.device`` refuses such a job first where it cannot run.

**Gradient checkpointing** is on when asked, or, left unset, for a model of
``CHECKPOINTING_FROM_PARAMS`` parameters or more. It is non-reentrant (``use_reentrant=False``):
each decoder layer is run again in the backward pass on the same inputs (the packed 4D masks
among them) with the same random state (dropout), so losses and gradients are those without
it, and LoRA needs no input-gradient hook. It acts only in training mode with gradients on,
so evaluation, the DPO reference pass and generation run as without it.
"""

from __future__ import annotations

import torch

from app.core.protocol import CHECKPOINTING_FROM_PARAMS, JobParams
from trainer.device import FOUR_BIT_IS_FOR_LORA, CannotRun

# Set on a prepared model: the dtype its forward passes compute in (``autocast``).
COMPUTE_DTYPE = "job_compute_dtype"


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` is a GPU that computes in bf16 natively (emulation is slower than
    fp32, so it does not count)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)


def compute_dtype(cfg: JobParams, device: torch.device) -> torch.dtype:
    """What the job computes in on ``device``: bf16 or fp32."""
    if cfg.precision == "bf16" or (cfg.precision == "auto" and native_bf16(device)):
        return torch.bfloat16
    return torch.float32


def weights_dtype(cfg: JobParams, device: torch.device) -> torch.dtype:
    """What the (unquantised) weights are held in: bf16 for a LoRA job's frozen weights when it
    computes in bf16; fp32 otherwise (a full fine-tune's master weights)."""
    if cfg.method == "lora" and compute_dtype(cfg, device) == torch.bfloat16:
        return torch.bfloat16
    return torch.float32


def load_options(cfg: JobParams, device: torch.device) -> dict:
    """``from_pretrained``'s keyword arguments for the job on ``device``: the weights' dtype, the
    4-bit configuration, and a GPU to load straight onto (no fp32 copy in host memory first)."""
    if cfg.quantization == "4bit":
        if cfg.method != "lora":
            raise CannotRun(FOUR_BIT_IS_FOR_LORA)
        from transformers import BitsAndBytesConfig

        compute = compute_dtype(cfg, device)
        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
        return {"quantization_config": quantization, "dtype": compute, "device_map": {"": device}}
    options: dict = {"dtype": weights_dtype(cfg, device)}
    if device.type == "cuda":
        options["device_map"] = {"": device}
    return options


def parameter_count(model) -> int:
    """The model's parameters (a 4-bit weight counts as its unpacked number)."""
    count = getattr(model, "num_parameters", None)
    return int(count()) if callable(count) else sum(p.numel() for p in model.parameters())


def wants_checkpointing(cfg: JobParams, model) -> bool:
    if cfg.gradient_checkpointing is not None:
        return cfg.gradient_checkpointing
    return parameter_count(model) >= CHECKPOINTING_FROM_PARAMS


def enable_checkpointing(model) -> None:
    """Non-reentrant gradient checkpointing on every decoder layer of a transformers model."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # its name from transformers 5.x on
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def is_checkpointing(model) -> bool:
    """Whether any layer of ``model`` (through a PEFT wrapper) recomputes in the backward pass."""
    return any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())


def prepare(model, cfg: JobParams, device: torch.device):
    """A loaded transformers model as the job trains it, before any adapter: on ``device`` in
    its weights' dtype (or made ready for 4-bit training), checkpointing where wanted."""
    if cfg.quantization == "4bit":
        if cfg.method != "lora":
            raise CannotRun(FOUR_BIT_IS_FOR_LORA)
        if not getattr(model, "is_loaded_in_4bit", False):
            raise ValueError("a 4-bit job's model is loaded in 4-bit by trainer.start.load_start")
        from peft import prepare_model_for_kbit_training

        # Checkpointing is enabled below, the same way as without 4-bit.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        model = model.to(device)
        dtype = weights_dtype(cfg, device)
        for parameter in model.parameters():  # parameters only: buffers stay fp32
            if parameter.is_floating_point() and parameter.dtype != dtype:
                parameter.data = parameter.data.to(dtype)
    if wants_checkpointing(cfg, model):
        enable_checkpointing(model)
    return model


def mark(model, cfg: JobParams, device: torch.device):
    """Record on the prepared ``model`` what it computes in, for ``trainer.train.autocast``."""
    setattr(model, COMPUTE_DTYPE, compute_dtype(cfg, device))
    return model


def compute_dtype_of(model, device: torch.device) -> torch.dtype:
    """What ``model`` computes in: as prepared, or for a model never prepared (a merged one,
    one a test loads) bf16 on a GPU that has it natively and fp32 elsewhere."""
    marked = getattr(model, COMPUTE_DTYPE, None)
    if isinstance(marked, torch.dtype):
        return marked
    return torch.bfloat16 if native_bf16(device) else torch.float32
