"""Stylize the selected strips: the job logic between Blender's settings and the worker thread.

:class:`StylizeRun` is a small state machine advanced by :meth:`StylizeRun.tick` on the main
thread: the modal operator ticks it from a timer, :func:`stylize_selected` with ``wait=True``
(background mode, where timers never fire) ticks it in a loop. Strips are done one after another:
read the visible range (main thread), stream it (worker thread), then place the result.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass

import bpy

from frameloom_client.errors import UserError
from frameloom_client.jobspec import build_spec, keyframes_from_tracks, spec_hash

from . import compat, props, reader
from .job import StripJob, connect

KEY_SOURCE, KEY_SPEC = "frameloom_source", "frameloom_spec"


@dataclass
class Result:
    """One selected strip's outcome: ``strip`` (the result strip's name) or ``error``."""
    source: str
    strip: str | None = None
    error: str | None = None
    job_id: str = ""
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        return f"{self.source}: {self.strip}" if self.ok else f"{self.source}: {self.error}"


def results_root() -> str:
    """``//frameloom`` beside the saved .blend; a temporary folder for an unsaved one."""
    if bpy.data.filepath:
        return bpy.path.abspath("//frameloom")
    return os.path.join(tempfile.gettempdir(), "frameloom")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "strip"


def earlier_results(scene, source_name: str, key: str) -> list:
    return [s for s in compat.top_strips(scene)
            if s.get(KEY_SOURCE) == source_name and s.get(KEY_SPEC) == key]


class StylizeRun:
    """Stylize every selected strip of ``scene``; ``results`` fills in as strips finish."""

    def __init__(self, scene):
        self.scene = scene
        self.settings = scene.frameloom
        self.results: list[Result] = []
        self._queue = [s.name for s in compat.selected_strips(scene)]
        self._client = None
        self._caps = None
        self._job: StripJob | None = None
        self._current = None           # (source name, spec key, folder, workdir, range)
        self._cancelled = False
        self.total = len(self._queue)
        if not self._queue:
            self.results.append(Result("", error="no strips selected"))

    @property
    def done(self) -> bool:
        return self._job is None and not self._queue

    def cancel(self) -> None:
        self._cancelled = True
        if self._job is not None:
            self._job.cancel()

    # ---- the state machine ---------------------------------------------------------------

    def tick(self) -> None:
        if self._job is None:
            if self._queue:
                self._start(self._queue.pop(0))
            return
        state = self._job.snapshot()
        s = self.settings
        s.progress = state.done / max(state.total, 1)
        s.status = (f"{self._current[0]}: {state.done}/{state.total} frames"
                    + (f" ({state.stage})" if state.stage else ""))
        if state.finished:
            self._finish(state)

    def _fail(self, name: str, message: str, job_id: str = "") -> None:
        self.results.append(Result(name, error=message, job_id=job_id))

    def _start(self, name: str) -> None:
        scene, s = self.scene, self.settings
        strip = compat.top_strips(scene).get(name)
        if self._cancelled:
            return self._fail(name, "cancelled")
        workdir = None
        try:
            reader.check_readable(strip)
            if self._client is None:
                self._client, self._caps = connect(s.server, bpy.path.abspath(s.token_file),
                                                   s.tls, bpy.path.abspath(s.tls_ca))
            style = s.style.strip()
            if style not in self._caps.styles:
                raise ValueError(f"the server offers no style {style!r}; it offers "
                                 + ", ".join(self._caps.styles))
            start, count, first_index = compat.visible_range(strip)
            tracks = props.keyframe_tracks(scene, s, start, count, first_index)
            spec = build_spec(props.spec_settings(s), strict=False, name=name,
                              keyframes=keyframes_from_tracks(tracks))
            key = spec_hash(spec)
            depth16 = reader.source_is_16bit(strip)
            workdir = tempfile.mkdtemp(prefix="frameloom-src-")
            s.status = f"{name}: reading {count} frames"
            frames = reader.read_strip(scene, strip, workdir, depth16)
        except Exception as exc:  # noqa: BLE001 - a report line, never a traceback in Blender
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            line = (str(exc).splitlines() or [""])[0]
            known = isinstance(exc, (ValueError, UserError, RuntimeError))
            return self._fail(name, line if known else f"{type(exc).__name__}: {line}")
        folder = os.path.join(results_root(), f"{_safe(name)}_{key[:12]}")
        fps = scene.render.fps / (scene.render.fps_base or 1.0)
        self._current = (name, key, folder, workdir, start, count)
        self._job = StripJob(self._client, s.server, spec, frames, folder + ".partial", fps,
                             depth16).start()

    def _finish(self, state) -> None:
        name, key, folder, workdir, start, count = self._current
        self._job, self._current = None, None
        shutil.rmtree(workdir, ignore_errors=True)
        if state.cancelled:
            return self._fail(name, "cancelled", state.job_id)
        if state.error:
            return self._fail(name, state.error, state.job_id)
        try:
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(folder + ".partial", folder)
            new = self._place(name, key, folder, state.files, start)
        except Exception as exc:  # noqa: BLE001 - a report line, never a traceback in Blender
            shutil.rmtree(folder + ".partial", ignore_errors=True)
            return self._fail(name, f"cannot place the result: {exc}", state.job_id)
        self.results.append(Result(name, strip=new, job_id=state.job_id, cached=state.cached))

    def _place(self, name: str, key: str, folder: str, files: list[str], start: int) -> str:
        scene = self.scene
        strips = compat.top_strips(scene)
        source = strips.get(name)
        for old in earlier_results(scene, name, key):
            compat.remove_strip(scene, old)
        channel = compat.free_channel_above(scene, source, start, start + len(files))
        directory = folder if not bpy.data.filepath else bpy.path.relpath(folder)
        new = compat.new_image_strip(scene, f"{name}.frameloom", directory, files, channel, start)
        new[KEY_SOURCE], new[KEY_SPEC] = name, key
        compat.copy_placement(source, new)
        new.select = False          # the selection stays what the user chose
        return new.name

    def close(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job.join(10)
        if self._client is not None:
            self._client.close()
            self._client = None


def stylize_selected(context, wait: bool = True, poll: float = 0.02):
    """Stylize every selected movie/image strip of ``context.scene``.

    ``wait=True`` (scripts, ``blender -b``): blocks and returns one :class:`Result` per selected
    strip. ``wait=False``: returns the :class:`StylizeRun`; call its ``tick()`` until ``done``."""
    run = StylizeRun(context.scene)
    if not wait:
        return run
    try:
        while not run.done:
            run.tick()
            if not run.done:
                time.sleep(poll)
    finally:
        run.close()
        context.scene.frameloom.status = "; ".join(str(r) for r in run.results)
    return run.results
