"""Cross-frame attention: self-attention that also sees anchor frames, through attention processors.

Every self-attention layer (``attn1``) of the UNet and the ControlNets gets a
:class:`CrossFrameAttnProcessor`. In one forward the batch is ``G`` guidance groups (uncond, cond)
of ``Bg`` items each: the window's frames followed by reference images. Each frame's queries attend
to the keys/values of a fixed list of *slots*: itself, the anchor frame, its previous frames,
the references. A slot is either another item of the same forward (its K/V were just projected
anyway, so anchors cost nothing extra) or a K/V tensor remembered from an earlier forward of the
same step (the anchor frame and the last frames of the previous chunk or call). Nothing is
re-run to get a neighbour's K/V.

Why duplicating a slot is harmless: attending to ``[k, k]`` with values ``[v, v]`` gives exactly
the output of attending to ``[k]``, so a frame whose previous frame does not exist yet simply
points that slot at itself and every frame keeps the same number of slots (one batched SDPA).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass
class ForwardLayout:
    """How the items of one forward map onto slots.

    ``slots``: ``(Bg, S)`` long, indices into ``[this forward's Bg items, external items]``.
    ``external``: names of remembered K/V banks, in the order their items follow the batch
    (``"anchor"``, ``"prev"``); ``keys``: the timestep each is read at. ``record``: bank name -> positions in this forward
    whose K/V to remember for later forwards of the same step."""

    slots: torch.Tensor
    groups: int
    external: list[str] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)
    record: dict[str, list[int]] = field(default_factory=dict)


class CrossFrameState:
    """K/V banks remembered per (layer, step) across chunks and calls; shared by all processors.

    The denoiser sets :attr:`layout` and :attr:`step_key` (the timestep) before each forward and
    chooses which remembered timestep each bank is read at (a later call with another strength
    runs other timesteps and reads the nearest remembered one).
    """

    def __init__(self, offload: bool = False):
        self.layout: ForwardLayout | None = None
        self.step_key: int = 0
        self.offload = offload          # keep banks in host memory (GPU memory bound)
        self.banks: dict[str, dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]]] = {}
        self.calls = 0                  # processor invocations with cross-frame slots (for tests)

    def reset(self) -> None:
        self.banks.clear()

    def has(self, bank: str) -> bool:
        return bool(self.banks.get(bank))

    def drop(self, bank: str, step_keys) -> None:
        """Forget a bank's entries at these timesteps (all layers)."""
        entries = self.banks.get(bank, {})
        for key in [k for k in entries if k[1] in set(step_keys)]:
            del entries[key]

    def gather(self, layer: str, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``k, v``: ``(B, L, C)`` of this forward -> ``(B, S*L, C)`` keys/values over the slots."""
        lay = self.layout
        B, L, C = k.shape
        G = lay.groups
        Bg = B // G
        k4, v4 = k.view(G, Bg, L, C), v.view(G, Bg, L, C)
        ks, vs = [k4], [v4]
        for name in lay.external:
            ek, ev = self.banks[name][(layer, lay.keys[name])]
            if ek.shape[0] != G:    # guidance toggled between calls: reuse the cond group
                ek, ev = ek[-1:].expand(G, *ek.shape[1:]), ev[-1:].expand(G, *ev.shape[1:])
            ks.append(ek.to(k.device, k.dtype))
            vs.append(ev.to(v.device, v.dtype))
        bank_k = torch.cat(ks, dim=1) if len(ks) > 1 else k4
        bank_v = torch.cat(vs, dim=1) if len(vs) > 1 else v4
        S = lay.slots.shape[1]
        idx = lay.slots.to(k.device)
        out_k = bank_k[:, idx].reshape(B, S * L, C)   # (G, Bg, S, L, C) -> (B, S*L, C)
        out_v = bank_v[:, idx].reshape(B, S * L, C)
        for name, positions in lay.record.items():
            pos = torch.as_tensor(positions, device=k.device)
            rk, rv = k4[:, pos].detach(), v4[:, pos].detach()
            if self.offload:
                rk, rv = rk.to("cpu", non_blocking=True), rv.to("cpu", non_blocking=True)
            self.banks.setdefault(name, {})[(layer, self.step_key)] = (rk, rv)
        self.calls += 1
        return out_k, out_v


class CrossFrameAttnProcessor:
    """SDPA self-attention over a frame's own tokens plus its anchor slots (see module doc).

    Falls back to plain attention for cross-attention calls and when no layout is set."""

    def __init__(self, name: str, state: CrossFrameState):
        self.name = name
        self.state = state

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, *args, **kwargs) -> torch.Tensor:
        lay = self.state.layout
        cross = encoder_hidden_states is not None
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        ndim = hidden_states.ndim
        if ndim == 4:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        B = hidden_states.shape[0]
        query = attn.to_q(hidden_states)
        context = hidden_states if not cross else (
            attn.norm_encoder_hidden_states(encoder_hidden_states) if attn.norm_cross else encoder_hidden_states)
        key, value = attn.to_k(context), attn.to_v(context)
        if not cross and lay is not None and lay.slots.shape[1] > 1:
            key, value = self.state.gather(self.name, key, value)
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, key.shape[1], B)
            attention_mask = attention_mask.view(B, attn.heads, -1, attention_mask.shape[-1])
        d = key.shape[-1] // attn.heads
        q = query.view(B, -1, attn.heads, d).transpose(1, 2)
        k = key.view(B, -1, attn.heads, d).transpose(1, 2)
        v = value.view(B, -1, attn.heads, d).transpose(1, 2)
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask)
        out = out.transpose(1, 2).reshape(B, -1, attn.heads * d).to(q.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if ndim == 4:
            out = out.transpose(-1, -2).reshape(b, c, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def install_cross_frame(model: torch.nn.Module, state: CrossFrameState, prefix: str) -> int:
    """Give every self-attention layer of ``model`` a cross-frame processor; returns how many."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    procs = {}
    count = 0
    for name in model.attn_processors:
        if name.endswith("attn1.processor"):
            procs[name] = CrossFrameAttnProcessor(f"{prefix}{name}", state)
            count += 1
        else:
            procs[name] = AttnProcessor2_0()
    model.set_attn_processor(procs)
    return count


def frame_slots(n_frames: int, n_refs: int, *, anchor_pos: int | None, anchor_external: bool,
                previous: int, prev_external: int) -> tuple[torch.Tensor, list[str]]:
    """Slot table for one forward of ``n_frames`` frames followed by ``n_refs`` references.

    ``anchor_pos``: the anchor frame's position in this forward (or None); ``anchor_external``:
    use the remembered anchor bank instead. ``prev_external``: how many previous frames the
    remembered "prev" bank holds (frames just before this forward's first frame, oldest first).
    Returns ``(slots (Bg, S), external bank names)``; slot 0 is always the item itself.
    """
    Bg = n_frames + n_refs
    external = []
    base = Bg
    ext_anchor = ext_prev = None
    if anchor_pos is None and anchor_external:
        external.append("anchor")
        ext_anchor, base = base, base + 1
    if prev_external:
        external.append("prev")
        ext_prev, base = base, base + prev_external
    rows = []
    for j in range(Bg):
        if j >= n_frames:                       # a reference: plain self-attention
            rows.append(None)
            continue
        row = [j]
        if anchor_pos is not None or ext_anchor is not None:
            row.append(anchor_pos if anchor_pos is not None else ext_anchor)
        for p in range(1, previous + 1):
            i = j - p
            if i >= 0:
                row.append(i)
            elif prev_external and -i <= prev_external:
                row.append(ext_prev + prev_external + i)   # oldest first in the bank
            else:
                row.append(j)
        row.extend(range(n_frames, Bg))
        rows.append(row)
    S = max((len(r) for r in rows if r is not None), default=1)
    table = [r if r is not None else [j] * S for j, r in enumerate(rows)]
    return torch.tensor(table, dtype=torch.long), external
