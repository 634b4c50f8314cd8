"""LoRA and textual-inversion embeddings (filled in below)."""
from __future__ import annotations


def apply_loras(comps, loras, *, allow_pickle=False):
    if loras:
        from ...errors import UserError
        raise UserError("LoRA loading is not implemented yet")


def apply_embeddings(comps, paths, *, allow_pickle=False):
    if paths:
        from ...errors import UserError
        raise UserError("textual-inversion embeddings are not implemented yet")
