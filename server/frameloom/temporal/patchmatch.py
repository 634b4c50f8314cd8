"""Guided PatchMatch in pure torch: nearest-neighbour fields (NNF) between batched image pairs.

An NNF maps every pixel ``q`` of a *target* frame to a pixel ``q + off(q)`` of a *source* frame so
that the patches around them look alike. Patch distance is::

    guide_weight * SSD(source guide, target guide) + SSD(source style, target style)

where the guide is the original footage and the style the stylized frames. When the target's style
is unknown (keyframe propagation) it is estimated by voting the source style through the current
field after every iteration, as EbSynth does.

With ``style_detail`` the style term compares each patch's detail only: every style pixel minus
the mean of the patch-sized window around it. A per-frame stylizer's flicker is mostly slowly
varying colour and brightness (gain, offset, soft blotches); where the guide is flat (sky, walls)
the guide term cannot tell candidates apart, so full-colour style matching picks whichever source
patch has the target's flickered brightness, and the blend then copies the flicker instead of
averaging it out. Detail still aligns strokes and edges the guide does not show. The deflicker
turns it on; keyframe propagation (no flicker in its style) keeps full colour.

Everything is plain tensor arithmetic (unfold, index_select, shifts), so the same code runs on CPU
and CUDA with nothing compiled at run time. Propagation is vectorised: instead of PatchMatch's
serial scan, every pixel tries its four neighbours' offsets at once (a jump-flood step), then a few
random candidates at shrinking radii. Randomness comes from one ``torch.Generator`` per pair, seeded
from ``(seed, pair key)``, so a pair's field does not depend on what else shares its batch.

Speed trick: a patch is compared on a sparse grid of taps (3x3 taps spread over a 5x5 patch with
dilation 2) instead of all its pixels. Neighbouring patches overlap, so every pixel still counts,
and a candidate costs one row gather of ``6 * 9`` floats per pixel instead of ``6 * 25``.

Shapes: images ``(B, C, H, W)`` float in [0, 1]; offset fields ``(B, 2, H, W)`` float holding
integer ``(dy, dx)``; costs ``(B, H, W)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
StyleEstimator = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class PatchMatchConfig:
    patch_size: int = 5          # patch side at the finest level (odd)
    iterations: int = 4          # propagation + random-search rounds per level (finest gets half)
    guide_weight: float = 10.0   # weight of the original-footage SSD against the style SSD
    min_size: int = 24           # coarsest pyramid level's shorter side (pixels)
    max_levels: int = 6
    search_samples: int = 3      # random candidates per round (radius halves each time)
    seed: int = 0
    style_detail: bool = False   # style term on detail only (blind to low-frequency colour)

    def with_(self, **changes) -> "PatchMatchConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# ---------------------------------------------------------------------------------------------
# Small tensor helpers
# ---------------------------------------------------------------------------------------------

def pyramid_sizes(height: int, width: int, min_size: int, max_levels: int) -> list[tuple[int, int]]:
    """Level sizes from finest to coarsest, halving (rounding up) until the shorter side would
    drop under ``min_size``."""
    sizes = [(height, width)]
    while len(sizes) < max_levels:
        h, w = sizes[-1]
        nh, nw = (h + 1) // 2, (w + 1) // 2
        if min(nh, nw) < min_size:
            break
        sizes.append((nh, nw))
    return sizes


def resize_area(x: Tensor, size: tuple[int, int]) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, C, h, w)`` by box averaging (no aliasing when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="area")


def shift_field(field: Tensor, dy: int, dx: int) -> Tensor:
    """``out(y, x) = field(y + dy, x + dx)``, clamped at the borders. ``(B, C, H, W)``."""
    if dy == 0 and dx == 0:
        return field
    h, w = field.shape[-2:]
    p = (max(-dx, 0), max(dx, 0), max(-dy, 0), max(dy, 0))  # left, right, top, bottom
    padded = F.pad(field, p, mode="replicate")
    top, left = max(dy, 0), max(dx, 0)
    return padded[..., top:top + h, left:left + w]


_GRIDS: dict = {}


def box_mean(x: Tensor, size: int) -> Tensor:
    """Mean over the ``size`` x ``size`` window (odd) around every pixel, borders replicated.
    ``(B, C, H, W)`` -> same."""
    r = size // 2
    return F.avg_pool2d(F.pad(x, (r, r, r, r), mode="replicate"), size, stride=1)


def _grid(h: int, w: int, device) -> tuple[Tensor, Tensor]:
    """Pixel row/column coordinates ``(1, H, W)`` float, cached: built for every candidate."""
    key = (h, w, str(device))
    g = _GRIDS.get(key)
    if g is None:
        if len(_GRIDS) > 32:
            _GRIDS.clear()
        ys = torch.arange(h, device=device, dtype=torch.float32).view(1, h, 1).expand(1, h, w)
        xs = torch.arange(w, device=device, dtype=torch.float32).view(1, 1, w).expand(1, h, w)
        g = _GRIDS[key] = (ys.contiguous(), xs.contiguous())
    return g


def clamp_offsets(off: Tensor, src_hw: tuple[int, int]) -> Tensor:
    """Clamp ``(B, 2, H, W)`` offsets so ``q + off(q)`` stays inside a source of size ``src_hw``."""
    h, w = off.shape[-2:]
    ys, xs = _grid(h, w, off.device)
    oy = (ys + off[:, 0]).clamp_(0, src_hw[0] - 1) - ys
    ox = (xs + off[:, 1]).clamp_(0, src_hw[1] - 1) - xs
    return torch.stack([oy, ox], dim=1)


def flat_index(off: Tensor, src_hw: tuple[int, int]) -> Tensor:
    """Linear index into ``(B * Hs * Ws)`` rows of the source pixel each target pixel points at.
    ``off`` must already be clamped. Returns ``(B * H * W,)`` int64."""
    b, _, h, w = off.shape
    ys, xs = _grid(h, w, off.device)
    sy = (ys + off[:, 0]).long()
    sx = (xs + off[:, 1]).long()
    base = (torch.arange(b, device=off.device) * (src_hw[0] * src_hw[1])).view(b, 1, 1)
    return (base + sy * src_hw[1] + sx).reshape(-1)


def tap_layout(patch_size: int) -> tuple[int, int]:
    """(taps per side, dilation) of the sparse comparison grid for a patch side."""
    if patch_size <= 3:
        return max(patch_size, 1), 1
    return (patch_size - 1) // 2 + 1, 2


def patch_rows(x: Tensor, patch_size: int) -> Tensor:
    """``(B, C, H, W)`` -> ``(B * H * W, T * C)``: the sparse taps of the patch around every pixel
    (replicated at the borders), one row per pixel, ready for ``index_select``."""
    b, c, h, w = x.shape
    k, d = tap_layout(patch_size)
    r = (k - 1) * d // 2
    # Channels-last slices copied straight into row layout: one pass, no im2col + transpose.
    padded = F.pad(x, (r, r, r, r), mode="replicate").permute(0, 2, 3, 1)
    rows = x.new_empty(b, h, w, k * k, c)
    for i in range(k):
        for j in range(k):
            rows[:, :, :, i * k + j] = padded[:, i * d:i * d + h, j * d:j * d + w]
    return rows.view(b * h * w, k * k * c)


# CPU: rows gathered in cache-sized chunks and reduced while hot. One 512x512 gather is ~56 MB;
# a fresh buffer that size per candidate costs more in page faults than the arithmetic.
CPU_CHUNK_ROWS = 16384


def patch_cost(src_rows: Tensor, tgt_rows: Tensor, off: Tensor, src_hw: tuple[int, int]) -> Tensor:
    """SSD between each target patch and the source patch its offset points at. ``off`` clamped,
    ``(B, 2, H, W)``; returns ``(B, H, W)``."""
    b, _, h, w = off.shape
    idx = flat_index(off, src_hw)
    n = idx.numel()
    if src_rows.device.type != "cpu" or n <= CPU_CHUNK_ROWS:
        picked = src_rows.index_select(0, idx)
        return picked.sub_(tgt_rows).pow_(2).sum(1).view(b, h, w)
    out = torch.empty(n, dtype=src_rows.dtype)
    buf = torch.empty(CPU_CHUNK_ROWS, src_rows.shape[1], dtype=src_rows.dtype)
    for i in range(0, n, CPU_CHUNK_ROWS):
        j = min(n, i + CPU_CHUNK_ROWS)
        part = buf[:j - i]
        torch.index_select(src_rows, 0, idx[i:j], out=part)
        part.sub_(tgt_rows[i:j]).pow_(2)
        torch.sum(part, 1, out=out[i:j])
    return out.view(b, h, w)


def gather_pixels(src: Tensor, off: Tensor) -> Tensor:
    """Pixels of ``src (B, C, Hs, Ws)`` at ``q + off(q)`` for a clamped ``(B, 2, H, W)`` field."""
    b, c, hs, ws = src.shape
    h, w = off.shape[-2:]
    idx = flat_index(off, (hs, ws)) - (torch.arange(b, device=src.device) * (hs * ws)).repeat_interleave(h * w)
    idx = idx.view(b, 1, h * w).expand(b, c, h * w)
    return torch.gather(src.reshape(b, c, hs * ws), 2, idx).view(b, c, h, w)


def vote(src: Tensor, off: Tensor, patch_size: int) -> Tensor:
    """Patch voting: every target pixel averages what each patch covering it says it should be.

    The patch centred at ``q = x - d`` maps ``x`` onto source ``x + off(q)``, so the result is the
    mean over ``d`` in the patch of ``src(x + off(x - d))``. Voting (not plain warping) is what
    keeps the remapped style's strokes intact. ``src (B, C, Hs, Ws)``, ``off (B, 2, H, W)``."""
    r = patch_size // 2
    hs, ws = src.shape[-2:]
    out = None
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            o = clamp_offsets(shift_field(off, -dy, -dx), (hs, ws))
            g = gather_pixels(src, o)
            out = g if out is None else out.add_(g)
    return out.div_(patch_size * patch_size)


def pair_generators(keys: Sequence[int], seed: int, device) -> list[torch.Generator]:
    """One generator per pair, seeded from the run seed and the pair's key, so results do not
    depend on batch composition."""
    gens = []
    for k in keys:
        g = torch.Generator(device=device)
        g.manual_seed((int(seed) * 1_000_003 + int(k) * 7_919 + 12_345) % (2**63 - 1))
        gens.append(g)
    return gens


def _level_noise(gens: list[torch.Generator], rounds: int, shape: tuple[int, int], device) -> Tensor:
    """Uniform [0, 1) draws for a whole level, ``(rounds, B, 2, H, W)``: one call per pair and
    level (not per candidate) keeps kernel launches few on a GPU."""
    h, w = shape
    draws = [torch.rand((rounds, 2, h, w), generator=g, device=device) for g in gens]
    return torch.stack(draws, dim=1)


def _scaled(noise: Tensor, radius: int) -> Tensor:
    """Uniform [0, 1) -> integers uniform in ``[-radius, radius]``."""
    return torch.floor(noise * (2 * radius + 1)).clamp_(max=2 * radius) - radius


# ---------------------------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------------------------

def _features(guide: Tensor, style: Tensor | None, guide_weight: float, detail: int = 0) -> Tensor:
    """Per-pixel features whose patch SSD is the distance above; ``detail > 1`` keeps only the
    style's deviation from its ``detail``-wide local mean. ``(B, C + 3, H, W)``."""
    g = guide * math.sqrt(guide_weight)
    if style is None:
        return g
    if detail > 1:
        style = style - box_mean(style, detail)
    return torch.cat([g, style], dim=1)


def _improve(off, best, cand, src_rows, tgt_rows, src_hw):
    cand = clamp_offsets(cand, src_hw)
    cost = patch_cost(src_rows, tgt_rows, cand, src_hw)
    better = cost < best
    off = torch.where(better.unsqueeze(1), cand, off)
    return off, torch.minimum(best, cost)


def search_level(src_feat: Tensor, tgt_feat: Tensor, off: Tensor, patch_size: int,
                 iterations: int, radius: int, samples: int, gens: list[torch.Generator],
                 refresh: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """PatchMatch rounds at one level. ``refresh(off) -> tgt_feat`` re-estimates the target's
    features after each round (unknown target style). Returns ``(off, cost)``."""
    src_hw = tuple(src_feat.shape[-2:])
    h, w = off.shape[-2:]
    src_rows = patch_rows(src_feat, patch_size)
    tgt_rows = patch_rows(tgt_feat, patch_size)
    off = clamp_offsets(off, src_hw)
    best = patch_cost(src_rows, tgt_rows, off, src_hw)
    radii = [r for r in (radius >> k for k in range(samples)) if r >= 1]
    noise = _level_noise(gens, iterations * len(radii), (h, w), off.device) if radii else None
    for it in range(iterations):
        # Jump-flood propagation: each pixel tries its neighbours' offsets, near steps last.
        for step in ((2, 1) if it == 0 else (1,)):
            for dy, dx in ((step, 0), (-step, 0), (0, step), (0, -step)):
                off, best = _improve(off, best, shift_field(off, dy, dx), src_rows, tgt_rows, src_hw)
        for k, r in enumerate(radii):
            cand = off + _scaled(noise[it * len(radii) + k], r)
            off, best = _improve(off, best, cand, src_rows, tgt_rows, src_hw)
        if refresh is not None and it + 1 < iterations:
            tgt_rows = patch_rows(refresh(off), patch_size)
            best = patch_cost(src_rows, tgt_rows, off, src_hw)
    return off, best


def nnf(src_guide: Tensor, tgt_guide: Tensor, src_style: Tensor, tgt_style: Tensor | None = None,
        config: PatchMatchConfig = PatchMatchConfig(), keys: Sequence[int] | None = None,
        estimate: StyleEstimator | None = None, init: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Coarse-to-fine guided NNF from each source to its target.

    Args:
        src_guide, tgt_guide: ``(B, C, H, W)`` original frames (any C).
        src_style: ``(B, 3, H, W)`` stylized source frames.
        tgt_style: ``(B, 3, H, W)`` stylized target frames, or None to estimate them by voting.
        keys: one int per pair that seeds its random search (default ``0..B-1``).
        estimate: with ``tgt_style=None``, maps the voted ``(B, 3, h, w)`` remaps to the style
            estimate used for matching (e.g. a blend of two keyframes' remaps so they agree).
        init: optional ``(B, 2, H, W)`` starting field at full resolution (default: identity).

    Returns:
        ``(off (B, 2, H, W), cost (B, H, W))``: offsets into the source and the final patch SSD.
    """
    b, _, h, w = tgt_guide.shape
    device = tgt_guide.device
    keys = list(range(b)) if keys is None else list(keys)
    gens = pair_generators(keys, config.seed, device)
    sizes = pyramid_sizes(h, w, config.min_size, config.max_levels)
    off = None
    for level in range(len(sizes) - 1, -1, -1):
        size = sizes[level]
        sg, tg, ss = (resize_area(t, size) for t in (src_guide, tgt_guide, src_style))
        # Small patches at coarse levels: a 5x5 patch on a 24 px image sees too much.
        ps = config.patch_size if level == 0 else max(3, config.patch_size - 2)
        if off is None:
            off = (torch.zeros(b, 2, *size, device=device) if init is None else
                   torch.round(F.interpolate(init, size=size, mode="nearest") * (size[0] / h)))
            radius, iters = max(size) // 2, config.iterations * 2
        else:
            off = torch.round(F.interpolate(off, size=size, mode="nearest") * 2.0)
            radius, iters = 4, config.iterations if level > 0 else max(1, (config.iterations + 1) // 2)
        detail = ps if config.style_detail else 0
        src_feat = _features(sg, ss, config.guide_weight, detail)
        refresh = None
        if tgt_style is not None:
            tgt_feat = _features(tg, resize_area(tgt_style, size), config.guide_weight, detail)
        else:
            def refresh(o, sg=tg, ss=ss, ps=ps, detail=detail):
                est = vote(ss, clamp_offsets(o, tuple(ss.shape[-2:])), ps)
                return _features(sg, est if estimate is None else estimate(est), config.guide_weight,
                                 detail)

            tgt_feat = refresh(clamp_offsets(off, size))
        off, cost = search_level(src_feat, tgt_feat, off, ps, iters, radius, config.search_samples,
                                 gens, refresh)
    return off, cost


def remap(src_style: Tensor, off: Tensor, patch_size: int = 5) -> Tensor:
    """Carry ``src_style (B, C, H, W)`` onto the targets of the field ``off`` by patch voting."""
    return vote(src_style, clamp_offsets(off, tuple(src_style.shape[-2:])), patch_size)


def guide_error(src_guide: Tensor, tgt_guide: Tensor, off: Tensor) -> Tensor:
    """Per-pixel squared guide difference under the field, ``(B, H, W)``, box-blurred over 5x5 so
    one stray pixel does not decide a weight. Used to down-weight remaps in occluded areas."""
    warped = gather_pixels(src_guide, clamp_offsets(off, tuple(src_guide.shape[-2:])))
    e = (warped - tgt_guide).pow_(2).mean(1, keepdim=True)
    return box_mean(e, 5).squeeze(1)
