"""Encoding, response-only labels, packing and masks (design §6)."""

from __future__ import annotations

import torch
from transformers import AutoTokenizer

from trainer.data import (
    IGNORE,
    EncodeStats,
    collate_packed,
    collate_padded,
    encode_all,
    encode_example,
    pack,
    padding_fraction,
)
from trainer.train import loss_sum

from .conftest import load_model


class TestEncode:
    def test_one_bos_one_eos_and_eos_is_in_the_loss(self, tokenizer, items):
        for item in items:
            ex = encode_example(tokenizer, item)
            assert ex.input_ids[0] == tokenizer.bos_token_id
            assert ex.input_ids.count(tokenizer.bos_token_id) == 1
            assert ex.input_ids.count(tokenizer.eos_token_id) == 1
            assert ex.input_ids[-1] == tokenizer.eos_token_id
            assert ex.labels[-1] == tokenizer.eos_token_id

    def test_prompt_is_masked_and_response_kept(self, tokenizer, items):
        item = items[1]
        ex = encode_example(tokenizer, item)
        n_prompt = ex.labels.count(IGNORE)
        assert ex.labels[:n_prompt] == [IGNORE] * n_prompt
        assert ex.labels[n_prompt:] == ex.input_ids[n_prompt:]
        response = tokenizer.decode(ex.input_ids[n_prompt:], skip_special_tokens=True)
        assert response == item.output

    def test_prompt_prefix_holds_for_the_default_template(self, tokenizer, items):
        stats = EncodeStats()
        for item in items:
            encode_example(tokenizer, item, stats=stats)
        assert stats.prefix_mismatches == 0

    def test_truncation_keeps_the_prompt_and_drops_what_cannot_fit(self, tokenizer, items):
        item = items[3]
        full = encode_example(tokenizer, item)
        n_prompt = full.labels.count(IGNORE)
        stats = EncodeStats()
        cut = encode_example(tokenizer, item, max_seq_len=n_prompt + 2, stats=stats)
        assert len(cut) == n_prompt + 2 and stats.truncated == 1
        assert cut.labels[n_prompt:] == full.input_ids[n_prompt : n_prompt + 2]
        assert encode_example(tokenizer, item, max_seq_len=n_prompt, stats=stats) is None
        assert stats.dropped == 1

    def test_pad_equal_to_eos_still_labels_eos(self, tiny_pad_eos_dir, items):
        tok = AutoTokenizer.from_pretrained(tiny_pad_eos_dir)
        assert tok.pad_token_id == tok.eos_token_id
        ex = encode_example(tok, items[0])
        batch = collate_padded([ex, encode_example(tok, items[3])], tok.pad_token_id)
        # The padded short row still has its EOS target; padding after it is ignored.
        n = len(ex)
        assert batch["labels"][0, n - 1] == tok.eos_token_id
        assert (batch["labels"][0, n:] == IGNORE).all()


class TestPacking:
    def test_first_fit_decreasing_with_restarting_positions(self, tokenizer, items):
        examples, _ = encode_all(tokenizer, items, max_seq_len=64)
        rows = pack(examples, 64)
        assert sorted(sum((r.lengths for r in rows), [])) == sorted(len(e) for e in examples)
        assert all(len(r) <= 64 for r in rows)
        for row in rows:
            start = 0
            for length in row.lengths:
                assert row.position_ids[start : start + length] == list(range(length))
                start += length

    def test_mask_is_block_diagonal_and_causal(self, tokenizer, items):
        examples, _ = encode_all(tokenizer, items[:2], max_seq_len=128)
        rows = pack(examples, 128)
        assert len(rows) == 1
        batch = collate_packed(rows, tokenizer.pad_token_id)
        mask = batch["attention_mask"][0, 0]
        a = rows[0].lengths[0]
        assert not mask[a:, :a].any()  # the second example never sees the first
        assert mask[:a, :a].equal(torch.ones(a, a, dtype=torch.bool).tril())

    def test_packing_reports_low_padding(self, tokenizer, items):
        examples, _ = encode_all(tokenizer, items * 8, max_seq_len=128)
        rows = pack(examples, 128)
        packed = padding_fraction([collate_packed(rows, tokenizer.pad_token_id)])
        padded = padding_fraction([collate_padded(examples, tokenizer.pad_token_id)])
        total = sum(len(e) for e in examples)
        assert len(rows) <= -(-total // 128) + 1  # near the bound: only the last row runs short
        assert packed < padded


class TestPackedMatchesUnpacked:
    def _losses(self, model, tokenizer, items, kind):
        examples, _ = encode_all(tokenizer, items, max_seq_len=256)
        rows = pack(examples, 256)
        assert len(rows) < len(examples)  # something really was packed together
        with torch.no_grad():
            packed, n_packed = loss_sum(
                model, collate_packed(rows, tokenizer.pad_token_id, mask_kind=kind)
            )
            unpacked, n_unpacked = loss_sum(model, collate_padded(examples, tokenizer.pad_token_id))
        assert n_packed == n_unpacked
        return packed.item() / n_packed, unpacked.item() / n_unpacked

    def test_sdpa_bool_mask(self, tiny_dir, tokenizer, items):
        packed, unpacked = self._losses(load_model(tiny_dir, "sdpa"), tokenizer, items, "bool")
        assert abs(packed - unpacked) < 1e-5

    def test_eager_float_mask(self, tiny_dir, tokenizer, items):
        packed, unpacked = self._losses(load_model(tiny_dir, "eager"), tokenizer, items, "float")
        assert abs(packed - unpacked) < 1e-5


class TestPromptNeverInLoss:
    def test_prompt_predictions_do_not_change_the_loss(self, tiny_dir, tokenizer, items):
        model = load_model(tiny_dir)
        examples, _ = encode_all(tokenizer, items, max_seq_len=256)
        batch = collate_padded(examples, tokenizer.pad_token_id)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logits = logits.detach().requires_grad_(True)
        targets = batch["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE
        )
        loss.backward()
        prompt_positions = torch.nn.functional.pad(targets == IGNORE, (0, 1), value=True)
        # No gradient reaches any prediction of a prompt (or pad) token ...
        assert logits.grad[prompt_positions].abs().max() == 0
        # ... and rewriting those predictions (the prompt's targets) leaves the loss unchanged.
        scrambled = logits.detach().clone()
        scrambled[prompt_positions] = torch.randn_like(scrambled[prompt_positions]) * 10
        again = torch.nn.functional.cross_entropy(
            scrambled[:, :-1].reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=IGNORE,
        )
        assert again.item() == loss.item()
