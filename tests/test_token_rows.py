"""Learning a token's row apart from the table gives diffusers' whole-table loop's numbers, bit for bit."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest
import torch
from method_helpers import SAMPLING, fixture_action, fresh_pipe, train
from safetensors.torch import load_file

from actionbench.methods import METHODS, textual_inversion
from actionbench.methods.token_rows import LearnedRows, learned_token_rows
from actionbench.methods.training import add_placeholder_tokens


@contextlib.contextmanager
def whole_table(pipe, token_ids):
    """The reference, diffusers' textual-inversion example: AdamW on the whole table, every row but
    ``token_ids`` put back after each update."""
    encoder = pipe.text_encoder
    encoder.requires_grad_(False)
    weight = encoder.get_input_embeddings().weight
    weight.requires_grad_(True)
    original = weight.detach().clone()
    frozen = torch.ones(weight.shape[0], dtype=torch.bool)
    frozen[token_ids] = False

    def restore() -> None:
        with torch.no_grad():
            weight[frozen] = original[frozen]

    yield SimpleNamespace(rows=weight, write_back=restore)
    weight.requires_grad_(False)


def trained_row_and_table(method: str, action, folder, **settings):
    cls = METHODS.get(method)
    pipe, config = fresh_pipe(), cls.config_cls(**SAMPLING, steps=4, **settings)
    artifact = train(cls(), action, config, folder, pipe=pipe)
    row = next(iter(load_file(str(artifact / "learned_embeds.safetensors")).values()))
    initializer_id = pipe.tokenizer.encode(config.initializer_token, add_special_tokens=False)[0]
    return row, pipe.text_encoder.get_input_embeddings(), initializer_id


@pytest.mark.parametrize("method, settings", [
    ("textual_inversion", {"gradient_accumulation_steps": 2, "train_batch_size": 2}),
    ("textual_inversion", {"gradient_accumulation_steps": 2, "fuse_micro_steps": False}),
    ("reversion", {"gradient_accumulation_steps": 2}),  # + the steering loss's gradient on the same row
])
def test_learned_rows_equal_the_whole_table_loop(method, settings, fixture_benchmark, tmp_path, monkeypatch):
    action = fixture_action(fixture_benchmark)
    row, table, initializer_id = trained_row_and_table(method, action, tmp_path / "rows", **settings)
    monkeypatch.setattr(textual_inversion, "learned_token_rows", whole_table)
    reference_row, reference_table, _ = trained_row_and_table(method, action, tmp_path / "table", **settings)
    assert torch.equal(row, reference_row)
    assert torch.equal(table.weight, reference_table.weight)
    initial = fresh_pipe().text_encoder.get_input_embeddings().weight
    assert not torch.equal(row, initial[initializer_id])  # the row moved from its initializer's
    assert torch.equal(table.weight[:initial.shape[0]], initial)  # and no other row did
    assert type(table) is torch.nn.Embedding  # the encoder has its own module back


def test_the_encoder_gets_its_table_back_with_the_rows_written_even_when_training_fails():
    pipe = fresh_pipe()
    token_id = add_placeholder_tokens(pipe, ["<A>"], "cat")[0]
    table = pipe.text_encoder.get_input_embeddings()
    with pytest.raises(RuntimeError, match="stopped"):
        with learned_token_rows(pipe, [token_id]) as learned:
            assert isinstance(pipe.text_encoder.get_input_embeddings(), LearnedRows)
            assert learned.weight is table.weight  # readers of the table see the table
            with torch.no_grad():
                learned.rows += 1.0
            raise RuntimeError("stopped")
    assert pipe.text_encoder.get_input_embeddings() is table
    assert torch.equal(table.weight[token_id], table.weight[pipe.tokenizer.encode("cat", add_special_tokens=False)[0]] + 1.0)


def test_only_the_learned_rows_get_a_gradient_and_other_tokens_read_the_table():
    pipe = fresh_pipe()
    token_id = add_placeholder_tokens(pipe, ["<A>"], "cat")[0]
    table = pipe.text_encoder.get_input_embeddings()
    ids = pipe.tokenizer(["a dog <A> <A>", "a dog"], padding="max_length", max_length=8, truncation=True,
                         return_tensors="pt").input_ids
    with learned_token_rows(pipe, [token_id]) as learned:
        embedded = learned(ids)
        assert torch.equal(embedded, table(ids))  # the same values before any update
        embedded.sum().backward()
    assert table.weight.grad is None
    assert torch.equal(learned.rows.grad, torch.full_like(learned.rows, 2.0))  # two positions hold the token
