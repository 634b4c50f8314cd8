"""Deflicker: every frame becomes a weighted average of its neighbours' stylized frames, each
remapped onto it by a guided NNF (PatchMatch on the original footage + the stylized frames).

Two modes, both streaming with memory bounded by the window, never by the clip:

- ``window``: frame ``t`` averages the remaps of every frame in ``[t - w, t + w]`` (2w NNFs/frame).
- ``fast``: for wide windows. Frames are grouped in dyadic blocks (sizes 1, 2, 4, ... <= 2w+1);
  a block's aggregate is its frames remapped onto its first frame and averaged, built by merging
  its two halves with ONE NNF. The window ``[t - w, t + w]`` splits into O(log w) whole blocks,
  each remapped onto ``t`` with one NNF, so a frame costs about ``2 log2(w) + 1`` NNFs instead of
  ``2w``. Only the blocks that can still meet a future window are kept.

Remaps are weighted per pixel by how well the guide matched (``exp(-err / error_scale)``), so a
neighbour cannot paint over what it never saw (occlusions, frame edges).

The NNFs compare the stylized frames on their detail only (``style_detail``): the frames being
deflickered carry the flicker, and where the guide is flat a full-colour comparison would pick
the neighbour patch with the target's own flickered brightness, so the average would keep it.

The in-memory :func:`deflicker_frames` (the diffusion sampler calls it on a window of latents'
decodes, on GPU) and the streaming :class:`StreamingDeflicker` (the runner) share their arithmetic
and their per-pair seeds, so they give the same frames.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .patchmatch import PatchMatchConfig, guide_error, nnf, remap

Tensor = torch.Tensor

MODES = ("window", "fast")
DEFAULT_WINDOW = {"window": 3, "fast": 15}


@dataclass(frozen=True)
class DeflickerConfig:
    mode: str = "window"
    window: int = 0               # +- frames; 0: the mode's default
    guide_weight: float = 10.0
    patch_size: int = 5
    iterations: int = 4
    seed: int = 0
    compensate: bool = False      # restore contrast/sharpness that averaging softens
    batch_size: int = 0           # NNF pairs per batch; 0: automatic
    error_scale: float = 0.002    # guide MSE at which a remap's weight falls to 1/e
    # Match the style on detail only: full colour follows the flicker where the guide is flat
    # (see patchmatch). False: the full-colour matching of earlier releases, for comparisons.
    style_detail: bool = True

    @classmethod
    def from_spec(cls, spec_temporal=None, **overrides) -> "DeflickerConfig":
        """From a ``pb.TemporalSpec`` (zeros/empties mean defaults) plus keyword overrides."""
        cfg = cls()
        if spec_temporal is not None:
            t = spec_temporal
            cfg = replace(cfg, mode=t.mode or "window", window=int(t.window), seed=int(t.seed),
                          patch_size=int(t.patch_size) or cfg.patch_size,
                          iterations=int(t.iterations) or cfg.iterations,
                          compensate=bool(t.compensate), batch_size=int(t.batch_size))
            if t.HasField("guide_weight"):
                cfg = replace(cfg, guide_weight=float(t.guide_weight))
        cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
        if cfg.mode not in MODES + ("none",):
            raise UserError(f"unknown temporal mode {cfg.mode!r}; use none, window or fast")
        if cfg.window < 0:
            raise UserError(f"temporal window must be >= 0, got {cfg.window}")
        if cfg.patch_size < 1 or cfg.patch_size % 2 == 0:
            raise UserError(f"patch_size must be odd and >= 1, got {cfg.patch_size}")
        if cfg.guide_weight < 0:
            raise UserError(f"guide_weight must be >= 0, got {cfg.guide_weight}")
        return cfg

    @property
    def radius(self) -> int:
        return self.window or DEFAULT_WINDOW.get(self.mode, 3)

    def patchmatch(self) -> PatchMatchConfig:
        return PatchMatchConfig(patch_size=self.patch_size, iterations=self.iterations,
                                guide_weight=self.guide_weight, seed=self.seed,
                                style_detail=self.style_detail)

    def pairs_per_batch(self, height: int, width: int, device=None) -> int:
        if self.batch_size > 0:
            return self.batch_size
        # CPU: past ~64k pixels per batch the gathers fall out of cache and a pair gets slower.
        # GPU: fill the device (~56 MB of patch rows per 512x512 pair) without hogging memory.
        budget = 64 * 1024 if device is None or torch.device(device).type == "cpu" else 16 * 512 * 512
        return max(1, min(32, budget // max(1, height * width)))


def pair_key(tag: int, a: int, b: int, c: int = 0) -> int:
    """Seed key of one NNF, from what it connects (not from where it sits in a batch)."""
    return ((tag * 1_000_003 + a) * 1_000_033 + b) * 1_000_037 + c


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------

def weighted_remaps(src_guide: Tensor, src_style: Tensor, tgt_guide: Tensor, tgt_style: Tensor,
                    keys: list[int], cfg: DeflickerConfig, extra: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Remap each source's style (plus optional ``extra`` channels, carried by the same field)
    onto its target, batched. All ``(B, C, H, W)``. Returns ``(remapped (B, C', H, W), weight
    (B, 1, H, W))`` with ``weight = exp(-guide error / error_scale)``."""
    pm = cfg.patchmatch()
    step = cfg.pairs_per_batch(*tgt_guide.shape[-2:], tgt_guide.device)
    outs, weights = [], []
    for i in range(0, src_guide.shape[0], step):
        sl = slice(i, i + step)
        off, _ = nnf(src_guide[sl], tgt_guide[sl], src_style[sl], tgt_style[sl], pm, keys[sl])
        payload = src_style[sl] if extra is None else torch.cat([src_style[sl], extra[sl]], 1)
        outs.append(remap(payload, off, cfg.patch_size))
        err = guide_error(src_guide[sl], tgt_guide[sl], off)
        weights.append(torch.exp(-err / cfg.error_scale).unsqueeze(1))
    return torch.cat(outs), torch.cat(weights)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)`` with replicated borders."""
    r = max(1, int(3 * sigma + 0.5))
    k = torch.exp(-(torch.arange(-r, r + 1, device=x.device, dtype=x.dtype) ** 2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def compensate(blended: Tensor, reference: Tensor, max_gain: float = 2.0) -> Tensor:
    """Give back the contrast and fine detail that averaging remaps washes out: per channel,
    stretch the deviation from the mean to the reference's spread, then scale the high-frequency
    band to the reference's energy (gains in ``[1, max_gain]``; never softens). ``(B, 3, H, W)``."""
    m = blended.mean((2, 3), keepdim=True)
    gain = (reference.std((2, 3), keepdim=True) / blended.std((2, 3), keepdim=True).clamp_min(1e-6))
    x = (blended - m) * gain.clamp(1.0, max_gain) + m
    low, ref_low = gaussian_blur(x, 1.5), gaussian_blur(reference, 1.5)
    hf, ref_hf = x - low, reference - ref_low
    hf_gain = ref_hf.std((2, 3), keepdim=True) / hf.std((2, 3), keepdim=True).clamp_min(1e-6)
    return (low + hf * hf_gain.clamp(1.0, max_gain)).clamp_(0.0, 1.0)


def _finish(num: Tensor, den: Tensor, reference: Tensor, cfg: DeflickerConfig) -> Tensor:
    out = num / den.clamp_min(1e-6)
    return compensate(out, reference) if cfg.compensate else out.clamp_(0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# The engine: frames in stream order, positions 0, 1, 2, ...
# ---------------------------------------------------------------------------------------------

class _Engine:
    """Holds the frames (and, in fast mode, block aggregates) that a future window can still
    reach, and blends one target frame at a time. Tensors are ``(1, 3, H, W)`` on one device."""

    def __init__(self, cfg: DeflickerConfig):
        self.cfg = cfg
        self.w = cfg.radius
        self.styled: "OrderedDict[int, Tensor]" = OrderedDict()
        self.guide: "OrderedDict[int, Tensor]" = OrderedDict()
        self.blocks: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}
        self.max_level = int(np.floor(np.log2(2 * self.w + 1))) if self.w > 0 else 0
        self.first = 0  # position of the first frame of the stream (> 0 for a resumed job)

    def add(self, pos: int, styled: Tensor, guide: Tensor) -> None:
        self.styled[pos] = styled
        self.guide[pos] = guide

    def forget_before(self, pos: int) -> None:
        for d in (self.styled, self.guide):
            for p in [p for p in d if p < pos]:
                del d[p]
        for key in [k for k in self.blocks if (k[1] << k[0]) < pos]:
            del self.blocks[key]

    def blend(self, t: int, last: int) -> Tensor:
        """Deflickered frame at position ``t`` given frames up to position ``last``."""
        lo, hi = max(self.first, t - self.w), min(last, t + self.w)
        if self.cfg.mode == "fast":
            return self._blend_fast(t, lo, hi)
        return self._blend_window(t, [s for s in range(lo, hi + 1) if s != t])

    def _blend_window(self, t: int, sources: list[int]) -> Tensor:
        styled_t, guide_t = self.styled[t], self.guide[t]
        num, den = styled_t.clone(), torch.ones_like(styled_t[:, :1])
        if sources:
            n = len(sources)
            remaps, weights = weighted_remaps(
                torch.cat([self.guide[s] for s in sources]), torch.cat([self.styled[s] for s in sources]),
                guide_t.expand(n, -1, -1, -1), styled_t.expand(n, -1, -1, -1),
                [pair_key(1, s, t) for s in sources], self.cfg)
            for i in range(n):  # fixed order: streaming and in-memory sum identically
                num = num + remaps[i:i + 1] * weights[i:i + 1]
                den = den + weights[i:i + 1]
        return _finish(num, den, styled_t, self.cfg)

    # -- fast mode ---------------------------------------------------------------------------

    def _block(self, level: int, k: int) -> tuple[Tensor, Tensor]:
        """(weighted sum (1,3,H,W), weight (1,1,H,W)) of block ``[k 2^L, (k+1) 2^L)`` aligned
        to its first frame."""
        key = (level, k)
        if key in self.blocks:
            return self.blocks[key]
        if level == 0:
            s = self.styled[k]
            agg = (s, torch.ones_like(s[:, :1]))
        else:
            (ls, lw), (rs, rw) = self._block(level - 1, 2 * k), self._block(level - 1, 2 * k + 1)
            left_rep, right_rep = (2 * k) << (level - 1), (2 * k + 1) << (level - 1)
            right_mean = rs / rw.clamp_min(1e-6)
            moved, weight = weighted_remaps(self.guide[right_rep], right_mean, self.guide[left_rep],
                                            ls / lw.clamp_min(1e-6), [pair_key(2, level, k)],
                                            self.cfg, extra=rw)
            carried = moved[:, 3:4] * weight
            agg = (ls + moved[:, :3] * carried, lw + carried)
        self.blocks[key] = agg
        return agg

    def _cover(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Split ``[lo, hi]`` into the fewest aligned dyadic blocks of level <= max_level."""
        out, x = [], lo
        while x <= hi:
            level = 0
            while (level < self.max_level and x % (1 << (level + 1)) == 0
                   and x + (1 << (level + 1)) - 1 <= hi):
                level += 1
            out.append((level, x >> level))
            x += 1 << level
        return out

    def _blend_fast(self, t: int, lo: int, hi: int) -> Tensor:
        styled_t, guide_t = self.styled[t], self.guide[t]
        num, den = torch.zeros_like(styled_t), torch.zeros_like(styled_t[:, :1])
        moving = []
        for level, k in self._cover(lo, hi):
            s, wt = self._block(level, k)
            rep = k << level
            if rep == t:       # already aligned to t
                num, den = num + s, den + wt
            else:
                moving.append((level, k, rep, s, wt))
        if moving:
            n = len(moving)
            means = torch.cat([s / wt.clamp_min(1e-6) for _, _, _, s, wt in moving])
            remaps, weights = weighted_remaps(
                torch.cat([self.guide[rep] for _, _, rep, _, _ in moving]), means,
                guide_t.expand(n, -1, -1, -1), styled_t.expand(n, -1, -1, -1),
                [pair_key(3, lv, k, t) for lv, k, _, _, _ in moving], self.cfg,
                extra=torch.cat([wt for *_, wt in moving]))
            for i in range(n):
                carried = remaps[i:i + 1, 3:4] * weights[i:i + 1]
                num = num + remaps[i:i + 1, :3] * carried
                den = den + carried
        return _finish(num, den, styled_t, self.cfg)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def deflicker_frames(styled: Tensor, guide: Tensor, window: int | None = None, mode: str = "window",
                     config: DeflickerConfig | None = None, **overrides) -> Tensor:
    """Deflicker a whole (short) sequence held in memory.

    Args:
        styled: ``(N, 3, H, W)`` stylized frames in [0, 1], clip order.
        guide: ``(N, C, H, W)`` original frames (the guide), same size.
        window: +- frames (default: the mode's); mode: ``"window"`` or ``"fast"``.
        config: full settings; ``window``/``mode``/``overrides`` replace its fields.

    Returns:
        ``(N, 3, H, W)`` deflickered frames on the input's device.
    """
    if styled.shape[0] != guide.shape[0] or styled.shape[-2:] != guide.shape[-2:]:
        raise ValueError(f"styled {tuple(styled.shape)} and guide {tuple(guide.shape)} differ")
    cfg = replace(config or DeflickerConfig(), mode=mode, **({} if window is None else {"window": window}))
    cfg = replace(cfg, **overrides)
    n = styled.shape[0]
    if cfg.mode == "window":
        return _window_batched(styled, guide, cfg)
    engine = _Engine(cfg)
    out = []
    for t in range(n):
        engine.add(t, styled[t:t + 1], guide[t:t + 1])
    for t in range(n):
        out.append(engine.blend(t, n - 1))
    return torch.cat(out)


def _window_batched(styled: Tensor, guide: Tensor, cfg: DeflickerConfig) -> Tensor:
    """Window mode with NNF pairs batched across targets (what a GPU wants); sums in the same
    order as the streaming engine so both give the same frames."""
    n, w = styled.shape[0], cfg.radius
    pairs = [(s, t) for t in range(n) for s in range(max(0, t - w), min(n - 1, t + w) + 1) if s != t]
    num = styled.clone()
    den = torch.ones_like(styled[:, :1])
    chunk = cfg.pairs_per_batch(*styled.shape[-2:], styled.device) * 4
    for i in range(0, len(pairs), chunk):
        part = pairs[i:i + chunk]
        src = torch.tensor([s for s, _ in part], device=styled.device)
        tgt = torch.tensor([t for _, t in part], device=styled.device)
        remaps, weights = weighted_remaps(guide[src], styled[src], guide[tgt], styled[tgt],
                                          [pair_key(1, s, t) for s, t in part], cfg)
        for j, (_, t) in enumerate(part):
            num[t:t + 1] = num[t:t + 1] + remaps[j:j + 1] * weights[j:j + 1]
            den[t:t + 1] = den[t:t + 1] + weights[j:j + 1]
    return torch.cat([_finish(num[t:t + 1], den[t:t + 1], styled[t:t + 1], cfg) for t in range(n)])


def default_device() -> torch.device:
    """Where the temporal engine runs when a job names no device (the same code everywhere)."""
    from ..devices import default_device as detected

    return detected()


def _to_tensor(image: np.ndarray, device) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0).to(device)


def _to_numpy(x: Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).to("cpu", torch.float32).contiguous().numpy()


class StreamingDeflicker:
    """Deflicker frames as they arrive, for the runner. Holds at most ``2 w + 1`` input frames
    (plus, in fast mode, O(w) block aggregates); a frame is returned once its ``w`` successors
    have arrived, or at :meth:`flush`."""

    def __init__(self, spec_temporal=None, device=None, **overrides):
        self.config = DeflickerConfig.from_spec(spec_temporal, **overrides)
        if self.config.mode == "none":
            raise UserError("StreamingDeflicker needs mode window or fast (use make_temporal_filter)")
        self.device = torch.device(device) if device is not None else default_device()
        self._engine = _Engine(self.config)
        self._indices: dict[int, int] = {}   # stream position -> clip frame index
        self._next_in = 0                    # position of the next pushed frame
        self._next_out = 0                   # position of the next frame to finish
        self._size: tuple[int, int] | None = None

    @property
    def context_frames(self) -> int:
        """Frames before a resume point that must be pushed again for identical output."""
        return self.config.radius

    def resume_from(self, position: int) -> None:
        """Begin the stream at ``position``, the ordinal (in the whole job) of the first frame
        that will be pushed. Pairs, seeds and fast-mode blocks are keyed by that ordinal, so a
        job resumed ``context_frames`` before its first unfinished frame reproduces the frames of
        an uninterrupted run exactly."""
        if self._next_in:
            raise RuntimeError("resume_from() must come before the first push()")
        self._next_in = self._next_out = position
        self._engine.first = position

    @property
    def buffered(self) -> int:
        """Input frames held right now (at most ``2 * window + 1``)."""
        return len(self._engine.styled)

    @property
    def blocks_held(self) -> int:
        return len(self._engine.blocks)

    def push(self, index: int, styled: np.ndarray, guide: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Feed one frame (clip order; HxWx3 float32 [0,1]); return the frames now final (in order)."""
        if styled.shape[:2] != guide.shape[:2]:
            raise UserError(f"frame {index}: stylized {styled.shape[:2]} and guide {guide.shape[:2]} sizes differ")
        if self._size is None:
            self._size = styled.shape[:2]
        elif styled.shape[:2] != self._size:
            raise UserError(f"frame {index}: size {styled.shape[:2]} differs from the clip's {self._size}")
        pos = self._next_in
        self._engine.add(pos, _to_tensor(styled, self.device), _to_tensor(guide, self.device))
        self._indices[pos] = index
        self._next_in += 1
        return self._drain(final=False)

    def flush(self) -> list[tuple[int, np.ndarray]]:
        """Finish the frames still waiting for successors (end of clip)."""
        out = self._drain(final=True)
        self._engine.forget_before(self._next_in)
        return out

    def _drain(self, final: bool) -> list[tuple[int, np.ndarray]]:
        out = []
        last = self._next_in - 1
        w = self._engine.w
        while self._next_out <= last and (final or self._next_out + w <= last):
            t = self._next_out
            with torch.no_grad():
                frame = self._engine.blend(t, last)
            out.append((self._indices.pop(t), _to_numpy(frame)))
            self._next_out += 1
            self._engine.forget_before(self._next_out - w)
        return out


def make_temporal_filter(spec_temporal=None, device=None, **overrides) -> StreamingDeflicker | None:
    """The runner's temporal stage for a job's ``TemporalSpec``; None when mode is ``"none"``."""
    cfg = DeflickerConfig.from_spec(spec_temporal, **overrides)
    if cfg.mode == "none":
        return None
    return StreamingDeflicker(spec_temporal, device=device, **overrides)


def deflicker_arrays(styled: Iterable[np.ndarray], guide: Iterable[np.ndarray], **overrides) -> list[np.ndarray]:
    """Convenience for scripts/tests: stream lists of HxWx3 arrays through :class:`StreamingDeflicker`."""
    f = StreamingDeflicker(**overrides)
    out = []
    for i, (s, g) in enumerate(zip(styled, guide)):
        out.extend(img for _, img in f.push(i, s, g))
    out.extend(img for _, img in f.flush())
    return out
