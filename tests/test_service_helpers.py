"""Shared fixtures for the service tests: an in-process server on a loopback port, small clips,
and a slow stylizer (so a test can act while a job is still running). No tests here."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np

from frameloom.jobs.engine import Engine, EngineConfig, Limits
from frameloom.service.server import FrameloomServer, ServerConfig
from frameloom.stylize import Stylizer, check_not_cancelled, make_stylizer
from frameloom_client import FrameloomClient, pb


class SlowStylizer(Stylizer):
    """The real stylizer for the spec, plus a pause per frame that checks for cancel."""

    batch_size = 1

    def __init__(self, spec, delay: float, **kw):
        self.inner, self.delay = make_stylizer(spec, **kw), delay
        self.calls = 0

    def stylize(self, frames, settings, is_cancelled=None):
        out = []
        for f, s in zip(frames, settings):
            t_end = time.monotonic() + self.delay
            while time.monotonic() < t_end:
                check_not_cancelled(is_cancelled)
                time.sleep(0.005)
            self.calls += 1
            out.extend(self.inner.stylize([f], [s], is_cancelled))
        return out

    def close(self):
        self.inner.close()


class RunningServer:
    """A FrameloomServer on its own event loop thread, bound to 127.0.0.1 on a free port."""

    def __init__(self, tmp_path, *, token=None, delay: float = 0.0, limits: Limits | None = None,
                 media_roots=(), model_dirs=(), devices=("cpu",), model_cache=None,
                 make_stylizer=None, port: int = 0, engine_class=Engine):
        cfg = EngineConfig(store_dir=str(tmp_path / "store"), media_roots=[str(m) for m in media_roots],
                           model_dirs=[str(m) for m in model_dirs], devices=list(devices),
                           limits=limits or Limits())
        self.delay = delay
        factory = (lambda spec, **kw: SlowStylizer(spec, delay, **kw)) if delay else make_stylizer
        self.engine = engine_class(cfg, make_stylizer=factory, model_cache=model_cache)
        self.server = FrameloomServer(ServerConfig(engine=cfg, port=port, token=token),
                                      engine=self.engine)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(60)
        self.target = f"127.0.0.1:{self.port}"
        self.token = token

    def client(self, token: str | None = "default", **kw) -> FrameloomClient:
        return FrameloomClient(self.target, token=self.token if token == "default" else token, **kw)

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.server.stop(0.5), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def clip(n: int = 6, h: int = 48, w: int = 64, channels: int = 3, dtype=np.uint8, seed: int = 0):
    """A small moving-gradient clip with noise: deterministic, non-trivial for filters."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    top = 255 if dtype == np.uint8 else 65535
    frames = []
    for i in range(n):
        base = np.stack([(x + 3 * i) / w, y / h, (x + y + 2 * i) / (w + h)], axis=2) % 1.0
        img = np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1)
        if channels == 4:
            img = np.concatenate([img, rng.random((h, w, 1))], axis=2)
        frames.append((img * top + 0.5).astype(dtype))
    return frames


def spec(kind: str = "identity", **style_params) -> pb.JobSpec:
    s = pb.JobSpec(name="test", style=pb.StyleSpec(kind=kind, params=style_params))
    s.temporal.mode = "none"
    return s


def local_run(job_spec: pb.JobSpec, frames, bit_depth: int = 8) -> list[np.ndarray]:
    """The same job run in-process through the one runner: the reference for the server."""
    from frameloom.frames import from_float
    from frameloom.jobs.runner import run_job
    from frameloom.media import ArraySource

    rgb = [f[:, :, :3] for f in frames]
    out = {}

    class Sink:
        def write(self, frame):
            out[frame.index] = from_float(frame.image, np.uint16 if bit_depth == 16 else np.uint8)

        def close(self):
            pass

    run_job(job_spec, ArraySource(rgb), Sink())
    return [out[i] for i in range(len(frames))]


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
