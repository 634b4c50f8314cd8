"""Shared by the Resolve bridge tests: a real `frameloom serve` on loopback, a real clip in a
fake Resolve's timeline, and reading results back. No tests here."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
from fake_resolve import FakeResolve
from mediafiles import photo_frames, write_clip

START = 86400          # the fake's timeline starts at 01:00:00:00 at 24 fps
TOKEN = "s3cret-token"


class ServeProcess:
    """`frameloom serve` in its own process, on a free loopback port, with a token."""

    def __init__(self, root: Path, media_root: Path):
        self.token_file = root / "token"
        self.token_file.write_text(TOKEN + "\n")
        port_file = root / "port"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "frameloom.cli", "serve", "--port", "0", "--port-file",
             str(port_file), "--store", str(root / "store"), "--media-root", str(media_root),
             "--token-file", str(self.token_file), "--log-level", "warning"],
            env={**os.environ, "OMP_NUM_THREADS": "1"})
        deadline = time.monotonic() + 90
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("frameloom serve did not start")
            time.sleep(0.05)
        self.target = f"127.0.0.1:{port_file.read_text().strip()}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def make_clip(folder: Path, name="shot.mp4", frames=12) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return write_clip(folder / name, photo_frames(size=(160, 96), frames=frames))


def scene(clip: str, *, version=(21, 0, 0, 7, ""), left=2, duration=8, record=START + 10, **kw):
    """A fake Resolve whose timeline holds ``clip`` on V1 at ``record``, trimmed to ``left`` ..
    ``left + duration - 1`` and selected."""
    resolve = FakeResolve(version, **kw)
    media = resolve.media_pool.ImportMedia([clip])[0]
    item = resolve.timeline.add_clip(media, 1, record, left=left, duration=duration)
    resolve.timeline.select(item)
    resolve.timeline.playhead = record
    return resolve, item


def read_tiffs(folder) -> list[np.ndarray]:
    files = sorted(Path(folder).glob("*.tif"))
    return [cv2.cvtColor(cv2.imread(str(f), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB) for f in files]


def read_video(path) -> tuple[list[np.ndarray], dict]:
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        info = {"codec": vs.codec_context.name, "tag": vs.codec_context.codec_tag,
                "fps": vs.average_rate, "profile": vs.profile}
        frames = [f.to_ndarray(format="rgb48le") for f in c.decode(vs)]
    return frames, info


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak ** 2 / mse)
