"""Assistant-only labels for conversations under any chat template (design §6), checked token
by token against sequences this file builds by hand from each template's format: every
assistant turn's content and its one end-of-turn token carry the loss, nothing else does.

Each expected sequence is the template's text cut into pieces at places where the tiny byte-level
tokenizer never merges across (special tokens, the seam between text and a newline or a leading
space), each piece tokenized on its own and marked trained or not by the test."""

from __future__ import annotations

import pytest
import torch
from tokenizers import AddedToken

from app.core.kinds import ItemContent
from trainer.data import (
    IGNORE,
    EncodeStats,
    collate_packed,
    collate_padded,
    encode_all,
    encode_example,
    pack,
)
from trainer.train import loss_sum

from .conftest import load_model

ENGLISH = ItemContent(
    kind="conversation",
    system="You are a patient maths tutor.",
    turns=[
        {"role": "user", "content": "What is 2 plus 3?"},
        {"role": "assistant", "content": "2 plus 3 is 5."},
        {"role": "user", "content": "And 5 plus 5?"},
        {"role": "assistant", "content": "That makes 10."},
        {"role": "user", "content": "Thank you!"},
        {"role": "assistant", "content": "You are welcome, good luck."},
    ],
)
CHINESE = ItemContent(
    kind="conversation",
    language="zh",
    system="你是一位耐心的老师。",
    turns=[
        {"role": "user", "content": "今天天气怎么样？"},
        {"role": "assistant", "content": "今天天气晴朗。"},
        {"role": "user", "content": "明天呢？"},
        {"role": "assistant", "content": "明天可能下雨，记得带伞。"},
    ],
)
NO_SYSTEM = ItemContent(
    kind="conversation",
    turns=[
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one?"},
        {"role": "assistant", "content": "Green."},
    ],
)
CONVERSATIONS = [ENGLISH, CHINESE, NO_SYSTEM]

# Zephyr-like: every turn, the user's too, ends with EOS and a newline.
ZEPHYR = (
    "{% for m in messages %}"
    "{{ '<|' + m['role'] + '|>\\n' + m['content'] + eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
# Llama 2: BOS before every [INST], the system prompt inside the first one, "answer </s>".
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}"
    "{% set msgs = messages[1:] %}{% else %}{% set sys = '' %}{% set msgs = messages %}{% endif %}"
    "{% for m in msgs %}"
    "{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' }}"
    "{% if loop.first and sys %}{{ '<<SYS>>\\n' + sys + '\\n<</SYS>>\\n\\n' }}{% endif %}"
    "{{ m['content'] + ' [/INST]' }}"
    "{% else %}{{ ' ' + m['content'] + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)
# Plain text headers and no end-of-turn token at all.
PLAIN = (
    "{% for m in messages %}{{ '### ' + m['role'] + ':\\n' + m['content'] + '\\n\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### assistant:\\n' }}{% endif %}"
)
CHATML = (
    "{% for m in messages %}"
    "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def messages(content: ItemContent) -> list[tuple[str, str]]:
    system = [("system", content.system)] if content.system else []
    return system + [(str(t.role), t.content) for t in content.turns]


def default_pieces(content):
    pieces = []
    for role, text in messages(content):
        if role == "assistant":
            pieces += [("<|assistant|>\n", False), (text + "</s>", True)]
        else:
            pieces.append((f"<|{role}|>\n{text}\n", False))
    return pieces


def zephyr_pieces(content):
    pieces = []
    for role, text in messages(content):
        if role == "assistant":
            pieces += [("<|assistant|>\n", False), (text + "</s>", True), ("\n", False)]
        else:
            pieces.append((f"<|{role}|>\n{text}</s>\n", False))
    return pieces[:-1]  # the newline after the last turn teaches nothing and is left off


def llama2_pieces(content):
    pieces, system = [], content.system
    for role, text in messages(content):
        if role == "system":
            continue
        if role == "user":
            header = f"<<SYS>>\n{system}\n<</SYS>>\n\n" if system else ""
            pieces.append((f"<s>[INST] {header}{text} [/INST]", False))
            system = ""
        else:
            pieces.append((f" {text} </s>", True))
    return pieces


def plain_pieces(content):
    pieces = []
    for role, text in messages(content):
        if role == "assistant":
            # No end-of-turn in the template: one EOS is inserted after the answer and trained.
            pieces += [("### assistant:\n", False), (text, True), ("</s>", True), ("\n\n", False)]
        else:
            pieces.append((f"### {role}:\n{text}\n\n", False))
    return pieces[:-1]


def chatml_pieces(content):
    pieces = []
    for role, text in messages(content):
        if role == "assistant":
            pieces += [
                ("<|im_start|>assistant\n", False),
                (text + "<|im_end|>", True),
                ("\n", False),
            ]
        else:
            pieces.append((f"<|im_start|>{role}\n{text}<|im_end|>\n", False))
    return pieces[:-1]


def expected(tokenizer, pieces, *, bos=True):
    ids = [tokenizer.bos_token_id] if bos else []
    labels = [IGNORE] * len(ids)
    for text, trained in pieces:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if trained else [IGNORE] * len(piece)
    return ids, labels


def trained_runs(tokenizer, example) -> list[str]:
    """The text of each contiguous run of trained tokens."""
    runs, current = [], []
    for token, label in zip(example.input_ids, example.labels, strict=True):
        if label != IGNORE:
            assert label == token
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [tokenizer.decode(run, skip_special_tokens=False) for run in runs]


def answers(content) -> list[str]:
    return [t.content for t in content.turns if t.role == "assistant"]


def with_chatml(tokenizer, *, eos_is_im_end: bool):
    tokenizer.add_tokens(
        [AddedToken("<|im_start|>", special=True), AddedToken("<|im_end|>", special=True)],
        special_tokens=True,
    )
    if eos_is_im_end:
        tokenizer.eos_token = "<|im_end|>"
    tokenizer.chat_template = CHATML
    return tokenizer


def assert_token_by_token(example, ids, labels):
    assert len(example.input_ids) == len(ids)
    for position, (got, want, label, want_label) in enumerate(
        zip(example.input_ids, ids, example.labels, labels, strict=True)
    ):
        assert (got, label) == (want, want_label), position


@pytest.mark.parametrize("content", CONVERSATIONS, ids=["english", "chinese", "no-system"])
class TestTemplates:
    def test_default_template(self, tokenizer, content):
        stats = EncodeStats()
        example = encode_example(tokenizer, content, stats=stats)
        assert_token_by_token(example, *expected(tokenizer, default_pieces(content)))
        assert trained_runs(tokenizer, example) == [a + "</s>" for a in answers(content)]
        assert stats == EncodeStats()

    def test_zephyr_template_trains_no_user_eos_and_no_newline(self, tokenizer, content):
        tokenizer.chat_template = ZEPHYR
        stats = EncodeStats()
        example = encode_example(tokenizer, content, stats=stats)
        assert_token_by_token(example, *expected(tokenizer, zephyr_pieces(content)))
        assert trained_runs(tokenizer, example) == [a + "</s>" for a in answers(content)]
        # Each user turn's EOS is in the text but not in the loss.
        eos = tokenizer.eos_token_id
        assert example.input_ids.count(eos) == len(messages(content))
        assert example.labels.count(eos) == len(answers(content))
        assert stats == EncodeStats()

    def test_llama2_template_has_one_bos_at_the_start(self, tokenizer, content):
        tokenizer.chat_template = LLAMA2
        example = encode_example(tokenizer, content, stats=(stats := EncodeStats()))
        assert_token_by_token(example, *expected(tokenizer, llama2_pieces(content), bos=False))
        assert trained_runs(tokenizer, example) == [f" {a} </s>" for a in answers(content)]
        bos = tokenizer.bos_token_id
        assert example.input_ids[0] == bos and example.input_ids[1] != bos
        assert stats == EncodeStats()

    def test_a_template_without_end_of_turn_gets_one_eos_per_answer(self, tokenizer, content):
        tokenizer.chat_template = PLAIN
        example = encode_example(tokenizer, content, stats=(stats := EncodeStats()))
        assert_token_by_token(example, *expected(tokenizer, plain_pieces(content)))
        assert trained_runs(tokenizer, example) == [a + "</s>" for a in answers(content)]
        assert example.input_ids[-1] == tokenizer.eos_token_id
        assert stats == EncodeStats()

    @pytest.mark.parametrize("eos_is_im_end", [False, True], ids=["eos-s", "eos-im-end"])
    def test_chatml_trains_im_end_and_not_the_newline_nor_an_extra_eos(
        self, tokenizer, content, eos_is_im_end
    ):
        tokenizer = with_chatml(tokenizer, eos_is_im_end=eos_is_im_end)
        im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
        example = encode_example(tokenizer, content, stats=(stats := EncodeStats()))
        assert_token_by_token(example, *expected(tokenizer, chatml_pieces(content)))
        assert trained_runs(tokenizer, example) == [a + "<|im_end|>" for a in answers(content)]
        assert tokenizer.convert_tokens_to_ids("</s>") not in example.input_ids
        for i, label in enumerate(example.labels):
            if label == im_end:  # an answer's end: the newline after it is context
                following = example.input_ids[i + 1 : i + 1 + len(newline)]
                assert following in ([], newline)
                assert all(lab == IGNORE for lab in example.labels[i + 1 : i + 1 + len(newline)])
        assert example.labels.count(im_end) == len(answers(content))
        assert stats == EncodeStats()


class TestEndOfTurn:
    def test_every_answer_ends_in_one_trained_eos(self, tokenizer):
        for content in CONVERSATIONS:
            example = encode_example(tokenizer, content)
            eos = tokenizer.eos_token_id
            pairs = zip(example.input_ids, example.labels, strict=True)
            trained = [t for t, lab in pairs if lab != IGNORE]
            assert trained.count(eos) == len(answers(content))
            assert example.input_ids.count(eos) == len(answers(content))
            assert example.input_ids[-1] == example.labels[-1] == eos

    def test_single_turn_task_encodes_as_the_same_conversation(self, tokenizer, items):
        for item in items:
            conversation = ItemContent(
                kind="conversation",
                turns=[
                    {
                        "role": "user",
                        "content": item.instruction + (f"\n\n{item.input}" if item.input else ""),
                    },
                    {"role": "assistant", "content": item.output},
                ],
            )
            task, chat = encode_example(tokenizer, item), encode_example(tokenizer, conversation)
            assert (task.input_ids, task.labels) == (chat.input_ids, chat.labels)


# Writes EOS twice after an answer: one end-of-turn is trained, the second is context.
DOUBLE_EOS = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}"
    "{{ '<|assistant|>\\n' + m['content'] + eos_token + eos_token }}"
    "{% else %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
# Qwen 3-like: only the last answer gets an (empty) reasoning block, so rendering a prefix of
# the conversation does not give a prefix of the whole text.
LAST_THINKS = (
    "{% for m in messages %}"
    "{% if m['role'] == 'assistant' and loop.last %}"
    "{{ '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{% else %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class TestUnusualTemplates:
    def test_a_second_eos_after_the_answer_is_not_trained(self, tokenizer):
        tokenizer.chat_template = DOUBLE_EOS
        example = encode_example(tokenizer, NO_SYSTEM)
        assert trained_runs(tokenizer, example) == [a + "</s>" for a in answers(NO_SYSTEM)]
        eos = tokenizer.eos_token_id
        assert example.input_ids.count(eos) == 2 * len(answers(NO_SYSTEM)) - 1
        assert example.labels.count(eos) == len(answers(NO_SYSTEM))

    def test_prefixes_rendered_unlike_the_whole_are_counted_and_found(self, tokenizer):
        tokenizer = with_chatml(tokenizer, eos_is_im_end=False)
        tokenizer.chat_template = LAST_THINKS
        stats = EncodeStats()
        example = encode_example(tokenizer, ENGLISH, stats=stats)
        *earlier, last = answers(ENGLISH)
        assert trained_runs(tokenizer, example) == [
            *(a + "<|im_end|>" for a in earlier),
            "<think>\n\n</think>\n\n" + last + "<|im_end|>",
        ]
        assert stats == EncodeStats(prefix_mismatches=1)


def first_turns(content: ItemContent, n: int) -> ItemContent:
    """The conversation's first ``n`` exchanges, as an item of its own."""
    data = content.model_dump()
    data["turns"] = data["turns"][: 2 * n]
    data["output"] = data["turns"][-1]["content"]
    return ItemContent.model_validate(data)


@pytest.mark.parametrize("template", [None, CHATML], ids=["default", "chatml"])
class TestTruncation:
    def _tok(self, tokenizer, template):
        return with_chatml(tokenizer, eos_is_im_end=False) if template else tokenizer

    def test_whole_trailing_exchanges_are_dropped(self, tokenizer, template):
        tokenizer = self._tok(tokenizer, template)
        full = encode_example(tokenizer, ENGLISH)
        two = encode_example(tokenizer, first_turns(ENGLISH, 2))
        one = encode_example(tokenizer, first_turns(ENGLISH, 1))
        assert len(one) < len(two) < len(full)
        for limit, kept in ((len(full) - 1, two), (len(two), two), (len(two) - 1, one)):
            stats = EncodeStats()
            cut = encode_example(tokenizer, ENGLISH, max_seq_len=limit, stats=stats)
            assert (cut.input_ids, cut.labels) == (kept.input_ids, kept.labels), limit
            assert stats == EncodeStats(truncated_at_turn=1)
            assert cut.labels[-1] == cut.input_ids[-1]  # ends in its trained end-of-turn

    def test_a_first_answer_too_long_is_cut_and_a_prompt_too_long_dropped(
        self, tokenizer, template
    ):
        tokenizer = self._tok(tokenizer, template)
        full = encode_example(tokenizer, ENGLISH)
        one = encode_example(tokenizer, first_turns(ENGLISH, 1))
        prompt = one.labels.index(next(lab for lab in one.labels if lab != IGNORE))
        stats = EncodeStats()
        cut = encode_example(tokenizer, ENGLISH, max_seq_len=prompt + 2, stats=stats)
        assert cut.input_ids == full.input_ids[: prompt + 2]
        assert cut.labels == [IGNORE] * prompt + full.input_ids[prompt : prompt + 2]
        assert stats == EncodeStats(truncated=1)
        assert encode_example(tokenizer, ENGLISH, max_seq_len=prompt, stats=stats) is None
        assert stats == EncodeStats(truncated=1, dropped=1)

    def test_counts_add_up_over_a_dataset(self, tokenizer, template):
        tokenizer = self._tok(tokenizer, template)
        two = encode_example(tokenizer, first_turns(ENGLISH, 2))
        examples, stats = encode_all(tokenizer, [ENGLISH, NO_SYSTEM, ENGLISH], max_seq_len=len(two))
        assert len(examples) == 3
        assert stats.truncated_at_turn == 2 and stats.truncated == stats.dropped == 0


class TestPacking:
    def test_packed_loss_equals_unpacked_with_conversations(self, tiny_dir, tokenizer, items):
        model = load_model(tiny_dir)
        examples, _ = encode_all(tokenizer, [*items, *CONVERSATIONS], max_seq_len=256)
        rows = pack(examples, 256)
        assert len(rows) < len(examples)
        with torch.no_grad():
            packed, n_packed = loss_sum(model, collate_packed(rows, tokenizer.pad_token_id))
            unpacked, n_unpacked = loss_sum(model, collate_padded(examples, tokenizer.pad_token_id))
        assert (
            n_packed
            == n_unpacked
            == sum(sum(lab != IGNORE for lab in e.labels[1:]) for e in examples)
        )
        assert abs(packed.item() / n_packed - unpacked.item() / n_unpacked) < 1e-5


@pytest.mark.parametrize(
    "template", [None, ZEPHYR, LLAMA2, PLAIN], ids=["default", "zephyr", "llama2", "plain"]
)
def test_a_tokenizer_without_offsets_splits_by_tokenized_prefixes(tokenizer, template):
    """A slow tokenizer has no offsets: tokenizing the template's prefixes gives the same labels."""
    if template:
        tokenizer.chat_template = template
    with_offsets = [encode_example(tokenizer, c) for c in CONVERSATIONS]
    tokenizer.__class__ = type("NoOffsets", (type(tokenizer),), {"is_fast": False})
    stats = EncodeStats()
    without = [encode_example(tokenizer, c, stats=stats) for c in CONVERSATIONS]
    assert [(e.input_ids, e.labels) for e in without] == [
        (e.input_ids, e.labels) for e in with_offsets
    ]
    assert stats == EncodeStats()
