"""A tiny offline Llama and a BPE tokenizer trained on the data (design §6, "Offline model").

Tests and the demo use it instead of a downloaded model. Both halves are written with
``save_pretrained`` so they load back through the ordinary ``from_pretrained`` path, exactly like
a real base model would.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from app.core.base_models import TINY_HEADS, TINY_HIDDEN, TINY_LAYERS, TINY_VOCAB_SIZE, tiny_config
from app.core.prompts import DEFAULT_CHAT_TEMPLATE

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
# The role markers of DEFAULT_CHAT_TEMPLATE become single tokens, so they never merge with text.
SPECIAL_TOKENS = [BOS, EOS, PAD, UNK, "<|user|>", "<|assistant|>", "<|system|>"]


def train_tokenizer(
    texts: Iterable[str], *, vocab_size: int = 2000, pad_is_eos: bool = False
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer that adds BOS itself, wrapped for transformers."""
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    # The template writes no BOS, so the tokenizer adds exactly one (no double BOS).
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS if pad_is_eos else PAD,
        unk_token=UNK,
        additional_special_tokens=SPECIAL_TOKENS[4:],
        padding_side="right",
    )
    wrapped.chat_template = DEFAULT_CHAT_TEMPLATE
    return wrapped


def build_tiny(
    texts: Iterable[str],
    out_dir: str | Path,
    *,
    vocab_size: int = TINY_VOCAB_SIZE,
    hidden: int = TINY_HIDDEN,
    layers: int = TINY_LAYERS,
    heads: int = TINY_HEADS,
    seed: int = 0,
    pad_is_eos: bool = False,
) -> Path:
    """Train a tokenizer on ``texts``, build a random Llama, save both to ``out_dir``."""
    out = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size, pad_is_eos=pad_is_eos)
    shape = tiny_config(len(tokenizer), hidden, layers, heads)
    del shape["model_type"]
    config = LlamaConfig(
        **shape,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    # Seeding the global generator is the only way to seed transformers' weight init.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
