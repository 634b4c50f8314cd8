"""DiffusionStylizer: a JobSpec's ``style.diffusion`` turned into sampler calls, window by window."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from ...devices import default_device
from ...errors import UserError
from ...frames import Frame
from ...spec import FrameSettings, Schedule
from ..base import CancelCheck, Stylizer
from .attention import CrossFrameState, install_cross_frame
from .cache import load_components
from .models import Components, resolve_dtype
from .sampler import FrameBatch, Timer, UNetDenoiser, VaeCodec, _no_timer, make_scheduler, sample

DEFAULT_STEPS = 20


def default_overlap(window: int) -> int:
    """Look-ahead frames per window when ``window_overlap`` is 0: a quarter of the window, at
    most 4 (CPU default window 4 -> 1, CUDA default 8 -> 2; under 4 frames -> none), so the extra
    UNet work stays at or under 25 %."""
    return min(4, max(0, window) // 4)


def resolve_overlap(value: int, window: int) -> int:
    """``DiffusionSpec.window_overlap`` to a frame count: 0 (unset, proto3) is automatic, a
    negative value turns blending off, a positive one is clamped to the window."""
    if value < 0:
        return 0
    return min(int(value) if value else default_overlap(window), max(0, window))


def seam_weights(n: int) -> list[float]:
    """Weight of the new window's output on its first ``n`` frames when cross-fading with the
    previous window's look-ahead: (j+1)/(n+1), rising linearly so neither side jumps."""
    return [(j + 1) / (n + 1) for j in range(n)]


def model_size(src_h: int, src_w: int, width: int = 0, height: int = 0) -> tuple[int, int]:
    """(H, W) the model runs at: the requested size (or the source's, keeping its aspect ratio
    when only one side is given), each rounded to the nearest multiple of 8, at least 64."""
    if width and not height:
        height = src_h * width / src_w
    elif height and not width:
        width = src_w * height / src_h
    width, height = width or src_w, height or src_h
    return max(64, int(round(height / 8)) * 8), max(64, int(round(width / 8)) * 8)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of two Gaussian noises: keeps the noise's norm, which a linear blend
    would shrink (the image would wash out mid-dissolve)."""
    if t <= 0:
        return a
    if t >= 1:
        return b
    af, bf = a.flatten().double(), b.flatten().double()
    dot = (af @ bf / (af.norm() * bf.norm())).clamp(-1, 1)
    theta = torch.arccos(dot)
    if theta.abs() < 1e-4:
        return (1 - t) * a + t * b
    s = torch.sin(theta)
    return ((torch.sin((1 - t) * theta) / s) * a.double() + (torch.sin(t * theta) / s) * b.double()).to(a.dtype)


def default_deflicker(spec_temporal=None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The temporal engine's guided PatchMatch deflicker with the job's temporal settings
    (window, patch size, iterations, guide weight), imported when first used. The in-loop pass
    always uses window mode: a window's frames are all in memory anyway."""
    def run(styled: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        from ...temporal.blend import DeflickerConfig, deflicker_frames

        cfg = DeflickerConfig.from_spec(spec_temporal)
        return deflicker_frames(styled.float(), guide.float(), mode="window", config=cfg).to(styled.dtype)
    return run


class DiffusionStylizer(Stylizer):
    """The DiffSynth engine behind ``style.kind = "diffusion"``.

    Reads ``spec.style.diffusion`` (model, controlnets, loras, embeddings, steps, scheduler,
    deflicker_steps, cross_frame, reference_images, dtype, compile, batch_size, window,
    window_overlap, allow_pickle, width/height) and ``spec.temporal.window`` (in-loop deflicker window). Prompts,
    seeds, strength, guidance and ControlNet scales arrive per frame as :class:`FrameSettings`.

    Keyword overrides (for the CLI, tests and benchmarks): ``device``, ``tokenizer`` (path),
    ``deflicker`` (callable ``(styled, guide) -> styled`` on (F,3,H,W) tensors, or False to turn
    the in-loop deflicker off), ``components`` (preloaded :class:`Components`), ``timer``,
    ``window_overlap`` (frames; 0 turns blending off, None reads the spec), ``model_cache`` (a
    :class:`~.cache.ModelCache`: the server's, so consecutive jobs share loaded weights).

    **Long clips** arrive as consecutive windows of :attr:`batch_size` frames. Each call also
    denoises the next ``overlap`` frames of the clip (the look-ahead, read with the ``frame_at``
    given to :meth:`prepare`, with their own keyframed settings) in the same batch, so they share
    the window's cross-frame attention and in-loop deflicker; their outputs are kept, and the next
    call cross-fades its first ``overlap`` outputs with them, with linear weights
    (:func:`seam_weights`). A seam is thus spread over ``overlap`` frames instead of falling
    between two. Memory is that of ``window + overlap`` frames whatever the clip length; the anchor
    frame's keys/values persist across calls (:class:`UNetDenoiser`), so the look does not drift.
    Without ``prepare`` (no random access), at the clip's end, or when calls are not consecutive,
    there is no look-ahead or no blend, and the output is the plain window's.
    """

    def __init__(self, spec, *, device: str | torch.device | None = None, tokenizer: str | None = None,
                 deflicker=None, components: Components | None = None, timer: Timer | None = None,
                 window_overlap: int | None = None, model_cache=None):
        d = spec.style.diffusion
        self.spec, self.d = spec, d
        self.device = default_device(device)
        self.dtype = resolve_dtype(d.dtype, self.device)
        self.steps = d.steps or DEFAULT_STEPS
        self.timer = timer
        if components is None:
            tok = tokenizer or d.tokenizer or None
            comps = (model_cache.get(d, device=self.device, dtype=self.dtype, tokenizer=tok)
                     if model_cache is not None else load_components(d, tokenizer=tok))
        else:   # preloaded: the spec still decides how many ControlNets take part
            comps = components
            comps.controlnets = comps.controlnets[:len(d.controlnets)]
        self.comps = comps
        self._base_scales = [cn.scale if cn.HasField("scale") else 1.0 for cn in d.controlnets]
        self._place()
        self.scheduler = make_scheduler(d.scheduler, comps.scheduler_config)
        self.cross = self._install_cross_frame()
        self.batch_size = d.window or d.batch_size or (8 if self.device.type == "cuda" else 4)
        self.overlap = resolve_overlap(d.window_overlap if window_overlap is None else
                                       (int(window_overlap) if int(window_overlap) > 0 else -1),
                                       self.batch_size)
        self._frame_at = None
        self._order: dict[int, int] = {}      # frame index -> position in the job's indices
        self._indices: list[int] = []
        self._schedule: Schedule | None = None
        self._ahead: list[tuple[int, np.ndarray]] = []   # the last call's look-ahead outputs
        tm = timer or _no_timer
        # On the CPU one frame at a time: the channels-last VAE ran 10% faster per frame than
        # in batches of 4 (decode 1.85 vs 2.06 s at 256x256, full SD1.5 VAE).
        self.codec = VaeCodec(comps.vae, batch=4 if self.device.type == "cuda" else 1, timer=tm)
        cf = d.cross_frame
        anchor, previous = (cf.first_frame, cf.previous_frames) if (cf.first_frame or cf.previous_frames) else (True, 1)
        self.denoiser = UNetDenoiser(comps.unet, [m for _, m in comps.controlnets], cross=self.cross,
                                     anchor=anchor, previous=previous,
                                     chunk=d.batch_size if d.window and d.batch_size else 0, timer=tm)
        if deflicker is None:
            deflicker = default_deflicker(spec.temporal if spec.HasField("temporal") else None)
        steps = list(d.deflicker_steps)
        # Off: temporal mode "none", or only negative step indices (e.g. deflicker_steps = [-1]).
        off = spec.temporal.mode == "none" or (steps and all(i < 0 for i in steps))
        self.deflicker = None if off else (deflicker or None)
        self.deflicker_steps = [i for i in steps if i >= 0] or None
        self._prompt_cache: dict[str, torch.Tensor] = {}
        self._noise_cache: dict[tuple, torch.Tensor] = {}
        self._annotators = None
        self._refs: torch.Tensor | None = None
        self._ref_size = None

    # -- setup ------------------------------------------------------------------------------

    def _place(self) -> None:
        from diffusers.utils import logging as dlog

        level = dlog.get_verbosity()
        dlog.set_verbosity_error()   # .to(dtype) warns about fp32-pinned modules SD1.5 does not have
        try:
            for m in self.comps.modules():
                m.to(self.device, self.dtype)
                m.requires_grad_(False)
        finally:
            dlog.set_verbosity(level)
        # The VAE's convolutions run 10-20% faster channels-last on the CPU too (measured at
        # 256x256, full SD1.5 VAE: decode 4.3 -> 3.9 s, encode 2.3 -> 1.8 s per two frames); the
        # UNet and ControlNets only on CUDA (on the CPU they were 10% slower).
        self.comps.vae.to(memory_format=torch.channels_last)
        if self.device.type == "cuda":
            self.comps.unet.to(memory_format=torch.channels_last)
            for _, cn in self.comps.controlnets:
                cn.to(memory_format=torch.channels_last)
        if self.d.compile:
            self.comps.unet = torch.compile(self.comps.unet)

    def _install_cross_frame(self) -> CrossFrameState | None:
        # Unset means the method's default (on); a job turns it off with enabled = false.
        if self.d.HasField("cross_frame") and not self.d.cross_frame.enabled:
            return None
        state = CrossFrameState()
        unet = getattr(self.comps.unet, "_orig_mod", self.comps.unet)
        install_cross_frame(unet, state, "unet.")
        for i, (_, cn) in enumerate(self.comps.controlnets):
            install_cross_frame(cn, state, f"cn{i}.")
        return state

    def prepare(self, frame_at, indices: Sequence[int], span: tuple[int, int] | None = None) -> None:
        self._frame_at = frame_at
        self._indices = [int(i) for i in indices]
        self._order = {i: k for k, i in enumerate(self._indices)}
        self._ahead = []
        if self.comps.controlnets:
            from .annotators import AnnotatorSet
            self._annotators = AnnotatorSet(self.d.controlnets, frame_at, indices, self.d.allow_pickle,
                                            device=self.device, spans=self._needed_spans(span))

    def _needed_spans(self, span: tuple[int, int] | None) -> list[tuple[int, int]] | None:
        """Ordinal ranges of the job's frames a run of ``span`` denoises (None: all of them):
        the span and its last window's look-ahead, and the job's first window (the anchor)."""
        if span is None or not self._indices:
            return None
        lo = self._order.get(span[0], 0)
        hi = self._order.get(span[1], len(self._indices) - 1)
        spans = [(lo, min(len(self._indices) - 1, hi + self.overlap))]
        if lo > 0 and self._anchored():
            spans.append((0, min(len(self._indices) - 1, self.batch_size + self.overlap - 1)))
        return spans

    def _anchored(self) -> bool:
        return self.cross is not None and self.denoiser.anchor

    # -- per frame inputs -------------------------------------------------------------------

    @torch.no_grad()
    def _embed(self, prompt: str) -> torch.Tensor:
        """``(T, D)`` text embedding (last hidden state), cached per prompt."""
        if prompt not in self._prompt_cache:
            from .adapters import expand_prompt

            tok = self.comps.tokenizer
            ids = tok(expand_prompt(prompt, self.comps.prompt_expansions), padding="max_length", max_length=tok.model_max_length, truncation=True,
                      return_tensors="pt").input_ids.to(self.device)
            self._prompt_cache[prompt] = self.comps.text_encoder(ids)[0][0].float()
        return self._prompt_cache[prompt]

    def _embedding(self, a: str, b: str, t: float) -> torch.Tensor:
        ea = self._embed(a)
        return ea if (t <= 0 or a == b) else torch.lerp(ea, self._embed(b), t)

    def _noise(self, seed: int, shape: tuple) -> torch.Tensor:
        """The fixed noise of a seed, drawn on the CPU so every device gets the same numbers."""
        key = (int(seed), shape)
        if key not in self._noise_cache:
            g = torch.Generator("cpu").manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)
            self._noise_cache[key] = torch.randn(shape, generator=g)
        return self._noise_cache[key]

    def _latent_shape(self, h: int, w: int) -> tuple:
        f = 2 ** (len(self.comps.vae.config.block_out_channels) - 1)
        return (int(self.comps.unet.config.in_channels), h // f, w // f)

    def _reference_images(self, h: int, w: int) -> torch.Tensor | None:
        if not self.d.reference_images:
            return None
        if self._refs is None or self._ref_size != (h, w):
            from .annotators import load_image
            imgs = [cv2.resize(load_image(r.path, r.png), (w, h), interpolation=cv2.INTER_AREA)
                    for r in self.d.reference_images]
            self._refs = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float()
            self._ref_size = (h, w)
        return self._refs

    def build_batch(self, frames: Sequence[Frame], settings: Sequence[FrameSettings]) -> FrameBatch:
        src_h, src_w = frames[0].image.shape[:2]
        h, w = model_size(src_h, src_w, self.d.width, self.d.height)
        imgs = np.stack([cv2.resize(f.image, (w, h), interpolation=cv2.INTER_AREA)
                         if f.image.shape[:2] != (h, w) else f.image for f in frames])
        images = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().contiguous()
        shape = self._latent_shape(h, w)
        noise = torch.stack([slerp(self._noise(s.seed, shape), self._noise(s.next_seed, shape),
                                   s.blend if s.seed != s.next_seed else 0.0) for s in settings])
        cond = torch.stack([self._embedding(s.prompt, s.next_prompt, s.blend) for s in settings])
        uncond = torch.stack([self._embedding(s.negative_prompt, s.next_negative_prompt, s.blend)
                              for s in settings])
        guidance = torch.tensor([s.guidance for s in settings], dtype=torch.float32)
        controls, scales = [], []
        if self.comps.controlnets and self._annotators is None and len(self.d.controlnets):
            self.prepare(None, [])   # the runner skipped prepare(): annotate without look-ahead
        for k, (kind, _) in enumerate(self.comps.controlnets):
            controls.append(self._annotators.images(k, frames, (h, w)) if self._annotators else images)
            scales.append([s.controlnet_scales.get(kind, self._base_scales[k]) for s in settings])
        return FrameBatch(
            images=images, noise=noise, cond=cond, uncond=uncond, guidance=guidance, controls=controls,
            control_scales=torch.tensor(scales, dtype=torch.float32) if scales else None,
            refs=self._reference_images(h, w),
            # Each frame at its own strength: the loop runs the largest one's schedule and a weaker
            # frame joins at its own start step (sampler.sample).
            strength=float(max(s.strength for s in settings)),
            strengths=torch.tensor([s.strength for s in settings], dtype=torch.float32))

    # -- the work ---------------------------------------------------------------------------

    def _look_ahead(self, frames: Sequence[Frame], settings: Sequence[FrameSettings]):
        """The next ``overlap`` frames of the clip after ``frames`` and their settings; fewer (or
        none) at the clip's end, without ``prepare``'s ``frame_at``, or on a frame it cannot read."""
        if not self.overlap or self._frame_at is None:
            return [], []
        last = frames[-1].index
        if self._indices:
            pos = self._order.get(last)
            if pos is None:
                return [], []
            wanted = self._indices[pos + 1:pos + 1 + self.overlap]
        else:   # the whole clip: the next indices, until the source says there are none
            wanted = range(last + 1, last + 1 + self.overlap)
        shape = frames[0].image.shape
        ahead, ahead_settings = [], []
        for i in wanted:
            try:
                f = self._frame_at(i)
            except (UserError, IndexError, KeyError):
                break
            if f is None or f.image.shape != shape:
                break
            ahead.append(f)
            ahead_settings.append(self._settings_at(i, settings[-1]))
        return ahead, ahead_settings

    def _settings_at(self, index: int, fallback: FrameSettings) -> FrameSettings:
        """The job's own schedule at ``index`` (what the runner will pass for it next call)."""
        try:
            if self._schedule is None:
                self._schedule = Schedule(self.spec)
            return self._schedule.at(index)
        except Exception:   # a spec the schedule cannot read: the window's last settings
            return replace(fallback, index=index)

    def stylize(self, frames: Sequence[Frame], settings: Sequence[FrameSettings],
                is_cancelled: CancelCheck | None = None) -> list[np.ndarray]:
        if not frames:
            return []
        sizes = {f.image.shape[:2] for f in frames}
        if len(sizes) != 1:
            raise UserError("all frames of a clip must have the same size")
        if self.denoiser.calls == 0 and self._anchored() and self._indices \
                and self._frame_at is not None and frames[0].index != self._indices[0]:
            self._replay_anchor(is_cancelled)
        ahead, images = self._denoise(frames, settings, is_cancelled)
        result = self._blend_seam(frames, images[:len(frames)])
        self._ahead = [(f.index, img) for f, img in zip(ahead, images[len(frames):])]
        return result

    def _denoise(self, frames: Sequence[Frame], settings: Sequence[FrameSettings],
                 is_cancelled: CancelCheck | None) -> tuple[list[Frame], list[np.ndarray]]:
        """One window and its look-ahead through the sampler: (look-ahead frames, images of the
        window's frames then of the look-ahead's, at the source size)."""
        ahead, ahead_settings = self._look_ahead(frames, settings)
        batch = self.build_batch(list(frames) + ahead, list(settings) + ahead_settings)
        out = sample(self.denoiser, self.codec, self.scheduler, batch, steps=self.steps,
                     deflicker=self.deflicker, deflicker_steps=self.deflicker_steps,
                     is_cancelled=is_cancelled, timer=self.timer or _no_timer)
        src_h, src_w = frames[0].image.shape[:2]
        images = []
        for img in out.permute(0, 2, 3, 1).cpu().numpy().astype(np.float32):
            if img.shape[:2] != (src_h, src_w):
                img = cv2.resize(img, (src_w, src_h), interpolation=cv2.INTER_CUBIC)
            images.append(np.clip(img, 0.0, 1.0))
        return ahead, images

    def _replay_anchor(self, is_cancelled: CancelCheck | None) -> None:
        """A run that starts after the job's first frame (a farm chunk, a resumed job) denoises
        the job's first window once, as an uninterrupted run does first, and keeps nothing of it
        but the anchor's keys/values: every chunk then attends to the same anchor, the clip's
        first frame. It starts cold otherwise (no previous frames, no look-ahead to blend), as
        the job's first frame did."""
        first = self._indices[:self.batch_size]
        frames = [self._frame_at(i) for i in first]
        if self._schedule is None:
            self._schedule = Schedule(self.spec)
        self._denoise(frames, [self._schedule.at(i) for i in first], is_cancelled)
        self.denoiser.forget_previous()
        self._ahead = []

    def _blend_seam(self, frames: Sequence[Frame], result: list[np.ndarray]) -> list[np.ndarray]:
        """Cross-fade the first frames of this window with the previous call's look-ahead outputs
        of the same frames (only when this call continues that one)."""
        cached, self._ahead = self._ahead, []
        n = 0
        while n < min(len(cached), len(frames)) and cached[n][0] == frames[n].index:
            n += 1
        if n < min(len(cached), len(frames)):   # not the continuation of the last call
            return result
        for j, w in enumerate(seam_weights(len(cached))[:n]):
            result[j] = ((1.0 - w) * cached[j][1] + w * result[j]).astype(np.float32)
        return result

    def close(self) -> None:
        self.comps = None
        self._prompt_cache.clear()
        if self.cross is not None:
            self.cross.reset()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
