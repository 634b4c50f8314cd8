"""The server's diffusion model cache (builtin:tiny on CPU, real server on loopback) and the
worker's device reaching the stylizer and the temporal filter."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from frameloom.stylize import make_stylizer
from frameloom.stylize.diffusion import cache as cache_mod
from frameloom.stylize.diffusion.cache import ModelCache, components_key
from frameloom.stylize.diffusion.models import build_tiny
from frameloom_client import pb
from test_service_helpers import RunningServer, clip, local_run

Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"


@pytest.fixture(scope="module")
def lora(tmp_path_factory) -> str:
    """A kohya LoRA for builtin:tiny, strong enough to change the picture."""
    q = build_tiny().unet.get_submodule(Q)
    g = torch.Generator().manual_seed(3)
    key = "lora_unet_" + Q.replace(".", "_")
    path = tmp_path_factory.mktemp("lora") / "style.safetensors"
    save_file({key + ".lora_down.weight": torch.randn(2, q.weight.shape[1], generator=g),
               key + ".lora_up.weight": torch.randn(q.weight.shape[0], 2, generator=g),
               key + ".alpha": torch.tensor(2.0)}, str(path))
    return str(path)


def diffusion(lora_weight: float | None = None, lora_path: str = "", cross_frame: bool = True,
              seed: int = 5) -> pb.JobSpec:
    s = pb.JobSpec(name="cache", style=pb.StyleSpec(kind="diffusion"))
    d = s.style.diffusion
    d.model, d.prompt, d.steps, d.strength, d.seed = "builtin:tiny", "a fox", 2, 0.6, seed
    if lora_weight is not None:
        d.loras.add(path=lora_path, weight=lora_weight)
    if not cross_frame:
        d.cross_frame.enabled = False
    s.temporal.mode = "none"
    return s


class Counting:
    """Wraps the real loader and counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, d, **kw):
        self.calls += 1
        return cache_mod.load_components(d, **kw)


def run_all(cache: ModelCache, jobs, frames, tmp_path):
    """Each job streamed through one server in turn. Sets ``cache.held``: its keys just before
    the server stopped (stopping empties it)."""
    loras = {lo.path for job in jobs for lo in job.style.diffusion.loras}
    srv = RunningServer(tmp_path, model_cache=cache, model_dirs={os.path.dirname(p) for p in loras})
    try:
        with srv.client() as c:
            out = [c.stylize_all(job, frames, cache=False) for job in jobs]
        cache.held = cache.keys()
        return out
    finally:
        srv.stop()
        assert len(cache) == 0


FRAMES = clip(2, 40, 56)


def same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_two_jobs_load_once_and_match_an_uncached_run(tmp_path):
    loader = Counting()
    cache = ModelCache(1, loader=loader)
    job = diffusion()
    first, second = run_all(cache, [job, job], FRAMES, tmp_path)
    assert loader.calls == 1 and cache.stats.hits == 1 and len(cache.held) == 1
    want = local_run(job, FRAMES)           # no cache: the runner loads its own model
    assert same(first, want) and same(second, want)


def test_lora_weight_is_its_own_entry_and_does_not_leak(tmp_path, lora):
    loader = Counting()
    cache = ModelCache(2, loader=loader)
    plain, half, full = diffusion(), diffusion(0.5, lora), diffusion(1.0, lora)
    got = run_all(cache, [half, full, half, plain], FRAMES, tmp_path)
    # half's hit made it the most recent, so plain pushed out full (least recently used)
    assert loader.calls == 3 and cache.stats.evictions == 1
    assert same(got[0], got[2])                                 # a hit, weights untouched
    assert not same(got[0], got[1]) and not same(got[0], got[3])
    assert same(got[1], local_run(full, FRAMES)) and same(got[3], local_run(plain, FRAMES))
    half_key = components_key(half.style.diffusion, device="cpu", dtype=torch.float32)
    assert [dict(k)["loras"] for k in cache.held] == [dict(half_key)["loras"], ()]


def test_capacity_one_evicts_and_zero_loads_every_time(tmp_path, lora):
    loader = Counting()
    cache = ModelCache(1, loader=loader)
    a, b = diffusion(), diffusion(1.0, lora)
    run_all(cache, [a, b, a], FRAMES, tmp_path / "one")
    assert loader.calls == 3 and cache.stats.evictions == 2 and len(cache.held) == 1

    loader = Counting()
    cache = ModelCache(0, loader=loader)
    got = run_all(cache, [a, a], FRAMES, tmp_path / "zero")
    assert loader.calls == 2 and cache.held == []
    assert same(got[0], got[1])


def test_cross_frame_processors_do_not_leak_between_jobs(tmp_path):
    """A cached UNet carries the last job's cross-frame processors; a job that turns cross-frame
    attention off must still get plain attention."""
    cache = ModelCache(1, loader=Counting())
    on, off = diffusion(), diffusion(cross_frame=False)
    got = run_all(cache, [on, off], clip(3, 40, 56), tmp_path)
    assert cache.stats.hits == 1
    assert same(got[1], local_run(off, clip(3, 40, 56)))
    assert not same(got[0], got[1])


def test_key_follows_the_file_on_disk(tmp_path, lora):
    path = tmp_path / "copy.safetensors"
    path.write_bytes(open(lora, "rb").read())
    d = diffusion(1.0, str(path)).style.diffusion
    before = components_key(d, device="cpu", dtype=torch.float32)
    assert before == components_key(d, device="cpu", dtype=torch.float32)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert components_key(d, device="cpu", dtype=torch.float32) != before
    assert components_key(d, device="cuda:1", dtype=torch.float32) != before
    assert components_key(d, device="cpu", dtype=torch.bfloat16) != before


def test_device_reaches_the_stylizer_and_the_temporal_filter(tmp_path, monkeypatch):
    from frameloom.jobs.runner import make_temporal
    from frameloom.temporal import blend

    assert make_stylizer(diffusion(), device="cpu").device == torch.device("cpu")
    job = pb.JobSpec(style=pb.StyleSpec(kind="filter:cartoon"))
    job.temporal.mode, job.temporal.window, job.temporal.iterations = "window", 1, 1
    assert make_temporal(job, device="cpu").device == torch.device("cpu")

    # Through the server: the worker's device name reaches the stylizer and the temporal filter.
    seen = []
    real_filter = blend.make_temporal_filter

    def temporal_filter(spec_temporal=None, device=None, **kw):
        seen.append(("temporal", device))
        return real_filter(spec_temporal, device=device, **kw)

    def stylizer(spec, *, device=None, model_cache=None):
        seen.append(("stylizer", device))
        made = make_stylizer(spec, device=device, model_cache=model_cache)
        if spec.style.kind == "diffusion":
            seen.append(("diffusion", made.device))
        return made

    monkeypatch.setattr(blend, "make_temporal_filter", temporal_filter)
    srv = RunningServer(tmp_path, make_stylizer=stylizer, model_cache=ModelCache(1))
    try:
        with srv.client() as c:
            c.stylize_all(job, clip(2, 24, 32), cache=False)
            c.stylize_all(diffusion(), FRAMES, cache=False)
    finally:
        srv.stop()
    assert seen == [("stylizer", "cpu"), ("temporal", "cpu"), ("stylizer", "cpu"),
                    ("diffusion", torch.device("cpu"))]


def test_unknown_device_name_is_one_clear_error(tmp_path):
    from frameloom.errors import UserError
    from frameloom.jobs.engine import Engine, EngineConfig

    engine = Engine(EngineConfig(store_dir=str(tmp_path / "store"), devices=["gpu0"]))
    try:
        with pytest.raises(UserError, match="unknown device 'gpu0'"):
            engine.start()
    finally:
        engine.stop()
    engine = Engine(EngineConfig(store_dir=str(tmp_path / "store2"), devices=["cpu", "cpu"]))
    try:
        with pytest.raises(UserError, match="given twice"):
            engine.start()
    finally:
        engine.stop()
