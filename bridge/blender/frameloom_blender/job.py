"""One strip's trip to the server, on a worker thread that never touches bpy.

The main thread reads the frames (:mod:`.reader`) and builds the spec; :class:`StripJob` streams
them, writes each stylized frame as a PNG into a staging folder as it arrives, and publishes
progress. The main thread polls it, and on success moves the staging folder into place and makes
the strip; on failure or cancel the staging folder is deleted, so nothing half-made is left.
"""
from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from frameloom_client import Cancelled, FrameloomClient, FrameloomError, encode_png


def read_token(path: str) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ValueError(f"cannot read the token file {path}: {exc.strerror}") from None


def connect(server: str, token_file: str = "", tls: bool = False, tls_ca: str = "",
            timeout: float = 10.0, ready_timeout: float = 3.0) -> tuple[FrameloomClient, object]:
    """A client and the server's capabilities, or a one-line error (``ValueError``).

    This runs on Blender's main thread: a server that does not answer fails after
    ``ready_timeout`` seconds rather than the client's default, so the UI never hangs long."""
    server = server.strip()
    if not server or ":" not in server:
        raise ValueError(f"server must be HOST:PORT, got {server!r}")
    ca = None
    if tls_ca:
        try:
            ca = Path(tls_ca).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read the CA file {tls_ca}: {exc.strerror}") from None
    client = FrameloomClient(server, token=read_token(token_file), tls=tls, root_certificates=ca,
                             timeout=timeout, ready_timeout=ready_timeout)
    try:
        caps = client.capabilities()
    except FrameloomError as exc:
        client.close()
        raise ValueError(describe_error(exc, server)) from None
    return client, caps


def describe_error(exc: FrameloomError, server: str) -> str:
    """A gRPC failure as one line a Blender user can act on."""
    first = str(exc).splitlines()[0] if str(exc) else exc.code
    if exc.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return f"cannot reach the frameloom server at {server} (is `frameloom serve` running there?)"
    if exc.code == "UNAUTHENTICATED":
        return f"the frameloom server at {server} refused the token ({first})"
    if exc.code == "PERMISSION_DENIED":
        return f"the frameloom server at {server} refused the request: {first}"
    return f"{exc.code}: {first}"


@dataclass
class JobState:
    done: int = 0
    total: int = 0
    stage: str = ""
    job_id: str = ""
    cached: bool = False
    finished: bool = False
    cancelled: bool = False
    error: str = ""
    files: list[str] = field(default_factory=list)


class StripJob:
    """Stream ``frames`` (a :class:`~.reader.SourceFrames`) through ``spec`` on ``client`` and
    write the results as ``frame_<source index>.png`` into ``staging``."""

    def __init__(self, client: FrameloomClient, server: str, spec, frames, staging: str,
                 fps: float, depth16: bool):
        self.client, self.server, self.spec, self.frames = client, server, spec, frames
        self.staging, self.fps, self.depth16 = staging, fps, depth16
        self.state = JobState(total=len(frames))
        self._lock = threading.Lock()
        self._call = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frameloom-stream", daemon=True)

    def start(self) -> "StripJob":
        self._thread.start()
        return self

    def snapshot(self) -> JobState:
        with self._lock:
            return JobState(**{**self.state.__dict__, "files": list(self.state.files)})

    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            call = self._call
        if call is not None:
            call.cancel()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _progress(self, p) -> None:
        with self._lock:
            self.state.stage = p.stage or self.state.stage

    def _run(self) -> None:
        try:
            shutil.rmtree(self.staging, ignore_errors=True)
            os.makedirs(self.staging)
            call = self.client.stylize(self.spec, self.frames, first_index=self.frames.first_index,
                                       frame_count=len(self.frames), fps=self.fps,
                                       clip_hash_hex=self.frames.hash,
                                       result_bit_depth=16 if self.depth16 else 8,
                                       progress=self._progress)
            with self._lock:
                self._call = call
            if self._cancel.is_set():
                call.cancel()
            for index, image in call:
                name = f"frame_{index:06d}.png"
                with open(os.path.join(self.staging, name), "wb") as f:
                    f.write(encode_png(image[:, :, :3]))
                with self._lock:
                    self.state.done += 1
                    self.state.files.append(name)
                    self.state.job_id, self.state.cached = call.job_id, call.cached
            with self._lock:
                self.state.job_id, self.state.cached = call.job_id, call.cached
                if self.state.done != self.state.total:
                    self.state.error = (f"the server sent {self.state.done} of "
                                        f"{self.state.total} frames")
        except Cancelled:
            with self._lock:
                self.state.cancelled = True
        except FrameloomError as exc:
            with self._lock:
                self.state.error = describe_error(exc, self.server)
        except Exception as exc:  # noqa: BLE001 - the thread must report, never die silently
            with self._lock:
                self.state.error = f"{type(exc).__name__}: {exc}"
        finally:
            if self._call is not None and self._call.job_id:
                with self._lock:
                    self.state.job_id = self._call.job_id
            with self._lock:
                if self._cancel.is_set() and not self.state.error:
                    self.state.cancelled = True
                if self.state.cancelled or self.state.error:
                    shutil.rmtree(self.staging, ignore_errors=True)
                self.state.files.sort()
                self.state.finished = True
