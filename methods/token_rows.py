"""Learn a few rows of the text encoder's token table without handing the whole table to the optimiser.

diffusers' textual-inversion example optimises the whole table (49408 rows) and puts every row but
the new token's back after each update. On the mini model that is about a third of a textual-
inversion update (AdamW over 3.2M entries 21 ms, the restore 7 ms, of 80 ms), for rows that never
change. Here the learned rows are a parameter of their own, looked up in place of the
table's rows for those token ids: every forward value, the learned rows' gradients (the same
embedding backward, summed over the same positions in the same order) and AdamW's element-wise
update of them are those of the whole-table loop, bit for bit (``tests/test_token_rows.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F


class LearnedRows(torch.nn.Module):
    """A token embedding whose rows ``token_ids`` come from the trainable ``rows``; the rest from the
    frozen table. ``weight`` is the table, so readers of ``get_input_embeddings().weight`` (shapes,
    saved embeddings) see it; :meth:`write_back` copies the learned rows into it."""

    # Buffers, so they follow the module's device and no update reads an index from the host.
    token_ids: torch.Tensor  # the learned rows' token ids, in ``rows``' order
    slot: torch.Tensor  # token id -> its row in ``rows``, or -1

    def __init__(self, table: torch.nn.Embedding, token_ids: list[int]):
        super().__init__()
        self.table = table
        device = table.weight.device
        ids = torch.tensor(token_ids, dtype=torch.long, device=device)
        self.rows = torch.nn.Parameter(table.weight.detach()[ids].clone())
        slot = torch.full((table.num_embeddings,), -1, dtype=torch.long, device=device)
        slot[ids] = torch.arange(len(token_ids), device=device)
        self.register_buffer("token_ids", ids, persistent=False)
        self.register_buffer("slot", slot, persistent=False)

    @property
    def weight(self) -> torch.Tensor:
        return self.table.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        embedded = self.table(input_ids)
        slots = self.slot[input_ids]
        learned = slots >= 0
        # Every position looks a row up (positions of other tokens read row 0 and pass back zeros),
        # so the learned rows' gradient is the table's embedding backward over the same positions.
        looked_up = F.embedding(slots.clamp(min=0), self.rows)
        return torch.where(learned.unsqueeze(-1), looked_up, embedded)

    def write_back(self) -> None:
        with torch.no_grad():
            self.table.weight.index_copy_(0, self.token_ids, self.rows.to(self.table.weight.dtype))


def install_learned_rows(pipe, token_ids: list[int]) -> LearnedRows:
    """Freeze ``pipe.text_encoder`` and put a :class:`LearnedRows` over its token table in its place
    (:func:`remove_learned_rows` undoes it). Its ``rows`` go to the optimiser; its ``write_back``
    after each update keeps the table current."""
    encoder = pipe.text_encoder
    encoder.requires_grad_(False)
    learned = LearnedRows(encoder.get_input_embeddings(), token_ids)
    encoder.set_input_embeddings(learned)
    return learned


def remove_learned_rows(pipe, learned: LearnedRows) -> None:
    """Write the learned rows into the table and give the encoder its own embedding module back."""
    learned.write_back()
    pipe.text_encoder.set_input_embeddings(learned.table)


@contextlib.contextmanager
def learned_token_rows(pipe, token_ids: list[int]) -> Iterator[LearnedRows]:
    """Train only the rows ``token_ids`` of the token table for the ``with`` block; on leaving (also
    when training fails) the rows are written into the table and the encoder has its module back."""
    learned = install_learned_rows(pipe, token_ids)
    try:
        yield learned
    finally:
        remove_learned_rows(pipe, learned)
