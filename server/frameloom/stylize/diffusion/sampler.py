"""The DiffSynth denoising loop over plain diffusers components.

One call denoises a window of frames together:

* fixed noise: every frame starts from the same noise (slerped per frame only where a keyframed
  seed changes), added to the frame's deterministic VAE latent mean (img2img);
* all frames (and both guidance branches) go through the UNet and ControlNets in one batch, in
  chunks of ``chunk`` frames when memory asks for it; cross-frame attention lives in attention
  processors (:mod:`.attention`), this loop only tells them the batch layout;
* latent in-iteration deflicker at chosen steps: x̂0 from ε, decode, deflicker guided by the
  source frames, encode to x̄0, ε̄ = (x_t − √ᾱ_t·x̄0)/√(1−ᾱ_t), and the scheduler steps with ε̄.

The denoiser and the latent codec are injectable, so the deflicker mechanism can be tested with a
stand-in denoiser in pixel space and no weights at all.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import torch

from ..base import CancelCheck, check_not_cancelled
from .attention import CrossFrameState, frame_slots, ForwardLayout

Deflicker = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class FrameBatch:
    """Per-frame inputs of one call; ``F`` frames at model resolution ``(H, W)``.

    images: ``(F, 3, H, W)`` in [0, 1]; noise: ``(F, C, h, w)``; cond/uncond: ``(F, T, D)`` text
    embeddings; guidance: ``(F,)``; controls: one ``(F, 3, H, W)`` image per ControlNet;
    control_scales: ``(num_controlnets, F)``; refs: ``(R, 3, H, W)`` reference images or None."""

    images: torch.Tensor
    noise: torch.Tensor
    cond: torch.Tensor | None = None
    uncond: torch.Tensor | None = None
    guidance: torch.Tensor | None = None
    controls: list[torch.Tensor] = field(default_factory=list)
    control_scales: torch.Tensor | None = None
    refs: torch.Tensor | None = None
    strength: float = 0.75
    # Per-frame strength ``(F,)``, or None: every frame at ``strength``. The schedule is the one of
    # the largest strength; a weaker frame joins the loop at its own step (see :func:`sample`).
    strengths: torch.Tensor | None = None
    ref_latents: torch.Tensor | None = None   # filled by :func:`sample` from ``refs``


class Codec(Protocol):
    def encode(self, images: torch.Tensor) -> torch.Tensor: ...   # (F,3,H,W) [0,1] -> (F,C,h,w)
    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...  # (F,C,h,w) -> (F,3,H,W) [0,1]


class Timer:
    """Wall time per category (UNet, ControlNet, VAE, deflicker); syncs CUDA so GPU time counts."""

    def __init__(self, device: torch.device | None = None):
        self.totals: dict[str, float] = {}
        self.sync = device is not None and device.type == "cuda"

    @contextlib.contextmanager
    def __call__(self, name: str):
        if self.sync:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        yield
        if self.sync:
            torch.cuda.synchronize()
        self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - t0


def _no_timer(name: str):
    return contextlib.nullcontext()


class VaeCodec:
    """VAE in slices of ``batch`` frames, tiled above ``tile_above`` pixels a side, so memory does
    not grow with F·H·W (tiling below that only costs time and seams)."""

    def __init__(self, vae, batch: int = 4, timer=_no_timer, tile_above: int = 1024):
        self.vae, self.batch, self.timer = vae, max(1, batch), timer
        self.scale = float(vae.config.scaling_factor)
        self.tile_above = tile_above

    def _tiling(self, h: int, w: int) -> None:
        if hasattr(self.vae, "use_tiling"):
            self.vae.use_tiling = max(h, w) > self.tile_above

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        p = next(self.vae.parameters())
        self._tiling(*images.shape[-2:])
        with self.timer("vae"):
            out = [self.vae.encode((c.to(p.device, p.dtype) * 2 - 1).contiguous(
                       memory_format=torch.channels_last)).latent_dist.mean
                   for c in images.split(self.batch)]
        return torch.cat(out) * self.scale

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        p = next(self.vae.parameters())
        f = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self._tiling(latents.shape[-2] * f, latents.shape[-1] * f)
        with self.timer("vae"):
            out = [self.vae.decode(c.to(p.device, p.dtype) / self.scale).sample
                   for c in latents.split(self.batch)]
        return ((torch.cat(out).float() + 1) / 2).clamp(0, 1)


def make_scheduler(name: str, config: dict):
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

    from ...errors import UserError

    classes = {"": DDIMScheduler, "ddim": DDIMScheduler, "euler": EulerDiscreteScheduler,
               "dpmpp": DPMSolverMultistepScheduler}
    if name not in classes:
        raise UserError(f"unknown scheduler {name!r}; use ddim, euler or dpmpp")
    cfg = {k: v for k, v in config.items() if not k.startswith("_")}
    return classes[name].from_config(cfg)


def img2img_timesteps(scheduler, steps: int, strength: float) -> torch.Tensor:
    """The tail of the schedule that img2img at ``strength`` runs: diffusers' convention, except
    that the step count is rounded where diffusers floors it. Strengths reach the engine through
    the contract's float32 (0.7 arrives as 0.69999999), and flooring would run 6 of 10 steps."""
    scheduler.set_timesteps(steps)
    run = min(int(round(steps * strength)), steps)
    start = (steps - run) * scheduler.order
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(start)
    return scheduler.timesteps[start:]


def default_deflicker_steps(n_run: int, count: int = 4) -> list[int]:
    """``count`` steps spread over the middle of the run: early x̂0 is still a blur, late steps
    no longer change structure, so deflickering there is wasted work."""
    if n_run <= 1:
        return []
    picks = {min(n_run - 2, max(0, round(n_run * f))) for f in (0.2, 0.35, 0.5, 0.65, 0.8)[:count]}
    return sorted(picks)


def _noise_level(scheduler, t, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(signal coefficient, noise coefficient, sigma-space?) of ``x_t`` at timestep ``t``."""
    if getattr(scheduler, "sigmas", None) is not None and hasattr(scheduler, "init_noise_sigma") \
            and type(scheduler).__name__.startswith("Euler"):
        i = int((scheduler.timesteps == t).nonzero()[0])
        sigma = scheduler.sigmas[i].to(x.device, torch.float32)
        return torch.ones_like(sigma), sigma, True
    ab = scheduler.alphas_cumprod.to(x.device)[int(t)].float()
    return ab.sqrt(), (1 - ab).sqrt(), False


def x0_from_eps(scheduler, t, x, eps):
    a, s, _ = _noise_level(scheduler, t, x)
    return (x.float() - s * eps.float()) / a


def eps_from_x0(scheduler, t, x, x0):
    """ε̄ = (x_t − √ᾱ_t·x̄0)/√(1−ᾱ_t) (or (x − x̄0)/σ in sigma space)."""
    a, s, _ = _noise_level(scheduler, t, x)
    return (x.float() - a * x0.float()) / s


def noised(scheduler, t, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``x0`` taken to noise level ``t`` with the given noise (same parameterisation as the loop)."""
    a, s, _ = _noise_level(scheduler, t, x0)
    return a * x0 + s * noise


def frame_starts(scheduler, steps: int, batch: FrameBatch, n_run: int) -> list[int]:
    """Index into the run's timesteps at which each frame starts denoising: 0 for frames at the
    batch's (largest) strength, later for weaker ones (their img2img start step, rounded the same
    way as :func:`img2img_timesteps`); ``n_run`` for a frame at strength 0 (never denoised)."""
    F_ = batch.images.shape[0]
    if batch.strengths is None:
        return [0] * F_
    order = getattr(scheduler, "order", 1)
    top = min(int(round(steps * batch.strength)), steps)
    out = []
    for st in batch.strengths.tolist():
        run = max(0, min(int(round(steps * float(st))), top))
        out.append(min(n_run, (top - run) * order))
    return out


def sample(denoise: Callable, codec: Codec, scheduler, batch: FrameBatch, *, steps: int,
           deflicker: Deflicker | None = None, deflicker_steps: Sequence[int] | None = None,
           is_cancelled: CancelCheck | None = None, timer=_no_timer,
           on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Denoise one window. Returns ``(F, 3, H, W)`` float32 in [0, 1] at model resolution.

    ``denoise(x_in, t, batch) -> eps`` with ``x_in`` already scaled for the scheduler;
    ``deflicker(styled, guide) -> styled`` on ``(F, 3, H, W)`` images, run at ``deflicker_steps``
    (indices into the steps actually run; None: :func:`default_deflicker_steps`).

    Per-frame strength (``batch.strengths``): the loop runs the schedule of the largest strength;
    until a weaker frame's own start step, its latent is re-set every step to its source latent
    noised to the current level (so it still gives its neighbours' cross-frame attention and the
    deflicker a frame at the right noise level), and from that step on it is denoised like the
    others: each frame is denoised from its own ``t``, as img2img at its strength would be."""
    if batch.strengths is not None:
        batch.strength = float(batch.strengths.max())
    timesteps = img2img_timesteps(scheduler, steps, batch.strength)
    if len(timesteps) == 0:
        return batch.images.float().clamp(0, 1)
    # The loop's state stays float32 whatever the model dtype: the scheduler's small updates would
    # round away in fp16; the denoiser casts its inputs to the model's dtype.
    z0 = codec.encode(batch.images).float()
    if batch.refs is not None and len(batch.refs):
        batch.ref_latents = codec.encode(batch.refs)
    if hasattr(denoise, "begin_call"):
        denoise.begin_call()
    if hasattr(denoise, "bind"):
        denoise.bind(scheduler)
    noise = batch.noise.to(z0.device, z0.dtype)
    x = scheduler.add_noise(z0, noise, timesteps[:1].repeat(z0.shape[0])) if batch.strength < 1 \
        else noise * scheduler.init_noise_sigma
    if deflicker_steps is None:
        deflicker_steps = default_deflicker_steps(len(timesteps))
    chosen = set(int(i) for i in deflicker_steps) if deflicker is not None else set()
    starts = frame_starts(scheduler, steps, batch, len(timesteps))
    late = [f for f, s0 in enumerate(starts) if s0 > 0]
    for i, t in enumerate(timesteps):
        check_not_cancelled(is_cancelled)
        waiting = [f for f in late if starts[f] >= i]
        if waiting:   # not started yet, or starting now: the source noised to this step's level
            x[waiting] = noised(scheduler, t, z0[waiting], noise[waiting]).to(x.dtype)
        eps = denoise(scheduler.scale_model_input(x, t), t, batch)
        if i in chosen:
            x0 = x0_from_eps(scheduler, t, x, eps)
            styled = codec.decode(x0)
            with timer("deflicker"):
                styled = deflicker(styled, batch.images.to(styled.device, styled.dtype))
            x0_bar = codec.encode(styled)
            eps = eps_from_x0(scheduler, t, x, x0_bar).to(eps.dtype)
        x = scheduler.step(eps, t, x).prev_sample
        if on_step is not None:
            on_step(i, len(timesteps))
    check_not_cancelled(is_cancelled)
    out = codec.decode(x)
    never = [f for f, s0 in enumerate(starts) if s0 >= len(timesteps)]
    if never:   # strength 0: the frame itself, as img2img at strength 0 returns it
        out[never] = batch.images[never].to(out.device, out.dtype).clamp(0, 1)
    return out


class UNetDenoiser:
    """ε from the UNet + ControlNets with classifier-free guidance in the same batch.

    Keeps the cross-frame bookkeeping across calls: the first frame it ever sees is the anchor;
    the last ``previous`` frames of each chunk are remembered for the next chunk or call."""

    def __init__(self, unet, controlnets: Sequence, *, cross: CrossFrameState | None = None,
                 anchor: bool = True, previous: int = 1, chunk: int = 0, timer=_no_timer):
        self.unet, self.controlnets = unet, list(controlnets)
        self.cross, self.anchor, self.previous = cross, anchor, max(0, previous)
        self.chunk, self.timer = chunk, timer
        self.calls = 0                       # calls begun; the anchor lives in the first
        self.anchor_at: set[int] = set()     # timesteps with a remembered anchor K/V
        self.prev_at: dict[int, int] = {}    # timestep -> remembered previous frames (this call)
        self.prev_old: dict[int, int] = {}   # the same, left by the previous call
        self._scheduler = None

    def bind(self, scheduler) -> None:
        """The scheduler whose noise levels reference images are put at."""
        self._scheduler = scheduler

    def begin_call(self) -> None:
        """Mark a new window; its first chunk reads the previous window's last frames."""
        if self.cross is not None and self.prev_old:
            self.cross.drop("prev", [k for k in self.prev_old if k not in self.prev_at])
        self.calls += 1
        self.prev_old, self.prev_at = self.prev_at, {}

    def forget_previous(self) -> None:
        """Drop the remembered previous frames (keep the anchor): the next call starts a new
        stretch of the clip that does not follow the last one."""
        if self.cross is not None:
            self.cross.drop("prev", set(self.prev_at) | set(self.prev_old))
        self.prev_at, self.prev_old = {}, {}

    def _layout(self, n: int, n_refs: int, groups: int, t: int, first_chunk: bool) -> ForwardLayout:
        anchor_pos = 0 if (self.anchor and self.calls <= 1 and first_chunk) else None
        keys = {}
        if anchor_pos is None and self.anchor and self.anchor_at:
            keys["anchor"] = min(self.anchor_at, key=lambda k: abs(k - t))
        prev = 0
        if self.previous and t in self.prev_at:
            keys["prev"], prev = t, self.prev_at[t]
        elif self.previous and self.prev_old and first_chunk:
            keys["prev"] = min(self.prev_old, key=lambda k: abs(k - t))
            prev = self.prev_old[keys["prev"]]
        slots, external = frame_slots(n, n_refs, anchor_pos=anchor_pos, anchor_external="anchor" in keys,
                                      previous=self.previous, prev_external=prev)
        record = {}
        if anchor_pos is not None:
            record["anchor"] = [0]
            self.anchor_at.add(t)
        if self.previous:
            record["prev"] = list(range(max(0, n - self.previous), n))
        return ForwardLayout(slots=slots, groups=groups, external=external, keys=keys, record=record)

    @torch.no_grad()
    def __call__(self, x_in: torch.Tensor, t, batch: FrameBatch) -> torch.Tensor:
        F_ = x_in.shape[0]
        size = self.chunk or F_
        cfg = batch.guidance is not None and bool((batch.guidance != 1).any())
        out = []
        for start in range(0, F_, size):
            sl = slice(start, min(F_, start + size))
            out.append(self._forward(x_in[sl], t, batch, sl, cfg))
        return torch.cat(out)

    def _ref_latents(self, t, batch: FrameBatch, like: torch.Tensor):
        if batch.ref_latents is None:
            return None
        z = batch.ref_latents.to(like.device, like.dtype)
        noise = batch.noise[:1].to(like.device, like.dtype).expand_as(z)
        x = noised(self._scheduler, t, z, noise).to(like.dtype)
        return self._scheduler.scale_model_input(x, t)

    def _forward(self, x: torch.Tensor, t, batch: FrameBatch, sl: slice, cfg: bool) -> torch.Tensor:
        n = x.shape[0]
        refs = self._ref_latents(t, batch, x)
        R = 0 if refs is None else refs.shape[0]
        items = x if refs is None else torch.cat([x, refs])
        cond = batch.cond[sl]
        if R:
            cond = torch.cat([cond, cond[:1].expand(R, *cond.shape[1:])])
        if cfg:
            unc = batch.uncond[sl]
            if R:
                unc = torch.cat([unc, unc[:1].expand(R, *unc.shape[1:])])
            items, emb = torch.cat([items, items]), torch.cat([unc, cond])
        else:
            emb = cond
        groups = 2 if cfg else 1
        dtype = next(self.unet.parameters()).dtype
        items, emb = items.to(dtype), emb.to(items.device, dtype)
        if self.cross is not None:
            self.cross.step_key = int(t)
            self.cross.layout = self._layout(n, R, groups, int(t), sl.start == 0)
        down, mid = self._control(items, t, emb, batch, sl, R, groups)
        with self.timer("unet"):
            eps = self.unet(items, t, encoder_hidden_states=emb, down_block_additional_residuals=down,
                            mid_block_additional_residual=mid, return_dict=False)[0]
        if self.cross is not None:
            self.cross.layout = None
            if self.previous:
                self.prev_at[int(t)] = min(self.previous, n)
        eps = eps.view(groups, n + R, *eps.shape[1:])[:, :n].float()
        if not cfg:
            return eps[0]
        g = batch.guidance[sl].to(eps.device, eps.dtype).view(-1, 1, 1, 1)
        return eps[0] + g * (eps[1] - eps[0])

    def _control(self, items, t, emb, batch: FrameBatch, sl: slice, R: int, groups: int):
        if not self.controlnets:
            return None, None
        down = mid = None
        for k, cn in enumerate(self.controlnets):
            img = batch.controls[k][sl].to(items.device, items.dtype)
            scale = batch.control_scales[k][sl].to(items.device, items.dtype)
            if R:   # references get no control: zero image and zero scale
                img = torch.cat([img, img.new_zeros(R, *img.shape[1:])])
                scale = torch.cat([scale, scale.new_zeros(R)])
            img, scale = img.repeat(groups, 1, 1, 1), scale.repeat(groups).view(-1, 1, 1, 1)
            with self.timer("controlnet"):
                d, m = cn(items, t, encoder_hidden_states=emb, controlnet_cond=img,
                          conditioning_scale=1.0, return_dict=False)
            d = [r * scale for r in d]
            m = m * scale
            down = d if down is None else [a + b for a, b in zip(down, d)]
            mid = m if mid is None else mid + m
        return down, mid
