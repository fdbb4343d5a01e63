"""The default tokenizer (design §5), built by the project from its own demo text.

``python -m app.demo.tokenizer`` trains a byte-level BPE on the demo content and writes
``app/data/tokenizer.json``, which :mod:`app.tokenizer` uses for token counts when
``STUDIO_TOKENIZER`` names no other file. Byte-level pre-tokenization means every string encodes,
Chinese included, without an unknown token. The same content gives a byte-identical file;
``--check`` exits with status 1 when the committed file is out of date (rerun without it after
changing the demo content).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from app.demo.loader import DemoContent, load_content
from app.tokenizer import DEFAULT_TOKENIZER

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
CHAT_MARKERS = ("<|user|>", "<|assistant|>", "<|system|>")  # app.core.prompts' default template
SPECIAL_TOKENS = [BOS, EOS, PAD, UNK, *CHAT_MARKERS]
VOCAB_SIZE = 4000

# The labels prompt rendering adds around the content (app.core.prompts), so they merge too.
PROMPT_SCAFFOLD = ("Requirements:", "要求：", "Input: ", "Output: ", "输入：", "输出：")


def demo_texts(content: DemoContent | None = None) -> list[str]:
    """The training text, in a fixed order: guidelines, description, then each item's fields
    (a conversation's system prompt and every turn, a pair's rejected response)."""
    content = content or load_content()
    return list(_texts(content))


def _texts(content: DemoContent) -> Iterator[str]:
    yield content.guidelines
    yield content.project["description"]
    yield from PROMPT_SCAFFOLD
    for item in content.items:
        for name in ("system", "instruction", "input", "output", "rejected"):
            if item.get(name, "").strip():
                yield item[name]
        for turn in item.get("turns", []):
            if turn["content"].strip():
                yield turn["content"]
        for demo in item.get("demos", []):
            yield demo["input"]
            yield demo["output"]
        yield from item.get("rules", [])


def build_tokenizer(texts: Iterable[str], vocab_size: int = VOCAB_SIZE) -> Tokenizer:
    """A byte-level BPE trained on ``texts``; special tokens take ids 0–6 in ``SPECIAL_TOKENS``.

    Encoding with special tokens adds ``<s>`` in front (Llama-style; the chat template never
    writes BOS itself). The vocabulary may come out smaller than ``vocab_size`` on a small corpus:
    pairs seen only once are not merged.
    """
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return tokenizer


def serialize(tokenizer: Tokenizer) -> str:
    """The file's text: pretty JSON with a final newline."""
    return tokenizer.to_str(pretty=True) + "\n"


def build_default() -> str:
    """The text of the default tokenizer.json, built from the demo content."""
    return serialize(build_tokenizer(demo_texts()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.demo.tokenizer", description="Build the default tokenizer.json."
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_TOKENIZER)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file differs from a fresh build"
    )
    args = parser.parse_args(argv)
    text = build_default()
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(
                f"{args.output} is out of date; run python -m app.demo.tokenizer", file=sys.stderr
            )
            return 1
        print(f"{args.output} is up to date.")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # newline="\n": the same bytes on every platform.
    with args.output.open("w", encoding="utf-8", newline="\n") as file:
        file.write(text)
    vocab = Tokenizer.from_str(text).get_vocab_size()
    print(f"Wrote {args.output} ({vocab} tokens, {len(text.encode())} bytes).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
