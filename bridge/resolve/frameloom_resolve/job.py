"""The job logic: settings -> one JobSpec per timeline item -> frames through the server -> the
result in the media pool and back on the timeline.

Three steps, so that a panel can keep every Resolve call on its own thread and only the gRPC
work on a worker (:mod:`frameloom_resolve.panel`):

- :meth:`Session.plan` reads the timeline (Resolve calls only);
- :meth:`Session.run` makes the frames (server calls and files only, never Resolve);
- :meth:`Session.place` imports and places them (Resolve calls only).

:func:`stylize_items` runs the three in a row: the public, blocking entry point.
"""
from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from frameloom_client import Cancelled, FrameloomClient, FrameloomError
from frameloom_client.errors import UserError
from frameloom_client.jobspec import SPEC_SETTINGS, build_spec
from frameloom_client.v1 import frameloom_pb2 as pb

from . import host
from .connect import connect, current_project_and_timeline
from .errors import BridgeError
from .markers import keyframes_from_markers
from .media import SEQUENCE_PATTERN, PathMap, decode_frames, under_roots, write_tiff

#: Settings of the bridge itself; every other setting is a JobSpec setting for ``build_spec``.
BRIDGE_SETTINGS = {
    "server": "127.0.0.1:50051",   # HOST:PORT of the frameloom server
    "token": None,                 # bearer token, or:
    "token_file": None,            # a file holding it
    "placement": "track",          # "track": first free video track above; "take": a new take
    "output_dir": None,            # where results are written (required)
    "path_map": None,              # "LOCAL=SERVER[,...]": how this machine's paths read there
    "transfer": "auto",            # "auto", "headless" (server reads the media), "stream"
    "result_format": "prores",     # "prores" (.mov, written by the server) or "tiff" (16-bit)
    "bin": "frameloom",            # media-pool bin the results are imported into
    "markers": True,               # keyframes from markers on the item and the timeline
    "timeout": 30.0,               # seconds a server call may take
    "connect_timeout": 5.0,        # seconds to wait for a server that is not (yet) reachable
}
PLACEMENTS = ("track", "take")
TRANSFERS = ("auto", "headless", "stream")
RESULT_FORMATS = ("prores", "tiff")

Progress = Callable[["ItemProgress"], None]


@dataclass
class ItemProgress:
    index: int          # 0-based position of the item in this run
    count: int          # items in this run
    item: str
    done: int
    total: int
    stage: str


@dataclass
class ItemResult:
    """What happened to one timeline item. ``ok`` with ``placement`` set: it is on the timeline;
    ``media`` set but not ok: the result was written (and imported, ``imported``) but not placed."""

    item: str
    ok: bool = False
    error: str = ""
    job_id: str = ""
    media: str = ""
    imported: bool = False
    transfer: str = ""
    source_range: tuple[int, int] | None = None
    keyframes: int = 0
    placement: str = ""
    track: int = 0
    record_frame: int = 0
    duration: int = 0
    take_index: int = 0
    cancelled: bool = False

    def __str__(self) -> str:
        if self.ok:
            where = (f"take {self.take_index}" if self.placement == "take"
                     else f"V{self.track} at frame {self.record_frame}")
            return f"{self.item}: placed {self.duration} frames as {where} ({self.media})"
        return f"{self.item}: {self.error}"


class CancelToken:
    """Set from any thread; the running job is cancelled on the server within moments."""

    def __init__(self):
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._action: Callable[[], None] | None = None

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        self._event.set()
        with self._lock:
            action = self._action
        if action is not None:
            action()

    def on_cancel(self, action: Callable[[], None] | None) -> None:
        with self._lock:
            self._action = action
        if action is not None and self._event.is_set():
            action()


@dataclass
class Plan:
    """One item's job, ready to run: its source, spec and where the result goes."""

    result: ItemResult
    source: host.ClipSource | None = None
    spec: pb.JobSpec | None = None
    output: str = ""            # local path of the .mov or TIFF folder
    frames_written: int = 0
    extra: dict = field(default_factory=dict)


def split_settings(settings: Mapping[str, Any] | None) -> tuple[dict, dict]:
    """(bridge settings with defaults, JobSpec settings). Unknown names are an error."""
    settings = dict(settings or {})
    unknown = sorted(k for k in settings if k not in BRIDGE_SETTINGS and k not in SPEC_SETTINGS)
    if unknown:
        raise BridgeError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    bridge = {k: settings.get(k, default) for k, default in BRIDGE_SETTINGS.items()}
    bridge = {k: (BRIDGE_SETTINGS[k] if v in (None, "") else v) for k, v in bridge.items()}
    spec = {k: v for k, v in settings.items() if k in SPEC_SETTINGS}
    for name, allowed in (("placement", PLACEMENTS), ("transfer", TRANSFERS),
                          ("result_format", RESULT_FORMATS)):
        if bridge[name] not in allowed:
            raise BridgeError(f"{name} must be one of {', '.join(allowed)}, got {bridge[name]!r}")
    if not bridge["output_dir"]:
        raise BridgeError("output_dir is required: the folder the stylized clips are written to")
    for name in ("input", "output", "frames"):
        if spec.get(name):
            raise BridgeError(f"{name} comes from the timeline item; do not set it")
    return bridge, spec


def _token(bridge: dict) -> str | None:
    if bridge["token"]:
        return str(bridge["token"])
    if bridge["token_file"]:
        path = os.path.expanduser(str(bridge["token_file"]))
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip() or None
        except OSError as exc:
            raise BridgeError(f"cannot read the token file {path}: {exc.strerror}") from None
    return None


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", name).strip("._") or "clip"


def _describe_error(exc: Exception) -> str:
    if isinstance(exc, FrameloomError):
        code = getattr(exc, "code", "")
        text = str(exc)
        if code == "UNAUTHENTICATED":
            return f"the server refused the token: {text} (check token / token_file)"
        if code == "UNAVAILABLE":
            return text if text.startswith("server unavailable") else f"server unavailable: {text}"
        return f"{text} ({code})" if code and code not in text else text
    return str(exc)


class Session:
    """One run over some timeline items with one set of settings."""

    def __init__(self, resolve=None, settings: Mapping[str, Any] | None = None):
        self.bridge, self.spec_settings = split_settings(settings)
        try:
            build_spec(self.spec_settings, strict=False)   # a bad setting fails before any work
        except UserError as exc:
            raise BridgeError(str(exc)) from None
        self.path_map = PathMap.parse(self.bridge["path_map"])
        self.resolve = connect(resolve)
        self.project, self.timeline = current_project_and_timeline(self.resolve)
        self.media_pool = self.project.GetMediaPool()
        self.fps = host.timeline_fps(self.project, self.timeline)
        self.output_dir = os.path.abspath(os.path.expanduser(str(self.bridge["output_dir"])))
        self._client: FrameloomClient | None = None
        self._capabilities: pb.Capabilities | None = None
        self._server_error: str | None = None
        self._placer = host.Placer(self.timeline, self.media_pool)

    # ---- 1. plan (Resolve reads) -----------------------------------------------------------

    def plan(self, items: Sequence | None = None) -> list[Plan]:
        items = host.selected_items(self.timeline) if items is None else list(items)
        return [self._plan_one(item) for item in items]

    def _plan_one(self, item) -> Plan:
        result = ItemResult(item=host.probe(item, "GetName") or "clip")
        plan = Plan(result)
        try:
            src = host.describe(self.timeline, item, fps=self.fps)
        except UserError as exc:
            result.error = str(exc)
            return plan
        plan.source = src
        result.source_range = (src.source_start, src.source_end)
        keyframes = keyframes_from_markers(src.markers) if self.bridge["markers"] else []
        try:
            keyframes = self._merged_keyframes(keyframes)
            plan.spec = build_spec({**self.spec_settings, "keyframes": keyframes,
                                    "name": f"resolve: {src.name}",
                                    "frames": (src.source_start, src.source_end)}, strict=False)
        except UserError as exc:
            result.error = f"{src.name}: {exc}"
            return plan
        result.keyframes = len(plan.spec.keyframes)
        stem = f"{_safe_name(os.path.splitext(src.name)[0])}_{src.source_start:06d}-{src.source_end:06d}_" \
               f"{uuid.uuid4().hex[:8]}"
        plan.output = os.path.join(self.output_dir, stem)
        return plan

    def _merged_keyframes(self, from_markers: list) -> list:
        """The settings' own keyframes, with markers replacing any on the same frame."""
        own = [k for k in self.spec_settings.get("keyframes", ())]
        taken = {k.frame for k in from_markers}
        own = [k for k in own if (k.frame if isinstance(k, pb.Keyframe) else k.get("frame"))
               not in taken]
        return own + list(from_markers)

    # ---- 2. run (server and files; no Resolve) ----------------------------------------------

    def connect_server(self) -> str | None:
        """Capabilities once per session; the error a person can act on, or None."""
        if self._capabilities is None and self._server_error is None:
            try:
                self._client = FrameloomClient(
                    str(self.bridge["server"]), token=_token(self.bridge),
                    timeout=float(self.bridge["timeout"]),
                    ready_timeout=float(self.bridge["connect_timeout"]))
                self._capabilities = self._client.capabilities()
            except (FrameloomError, UserError) as exc:
                self._server_error = _describe_error(exc)
                if isinstance(exc, FrameloomError) and exc.code == "UNAVAILABLE":
                    self._server_error += f" (is `frameloom serve` running at {self.bridge['server']}?)"
        return self._server_error

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def run(self, plan: Plan, *, index: int = 0, count: int = 1, progress: Progress | None = None,
            cancel: CancelToken | None = None) -> None:
        result = plan.result
        if result.error or plan.spec is None:
            return
        error = self.connect_server()
        if error:
            result.error = error
            return
        cancel = cancel or CancelToken()
        if cancel.cancelled:
            result.error, result.cancelled = "cancelled", True
            return

        def report(done: int, total: int, stage: str) -> None:
            if progress is not None:
                progress(ItemProgress(index, count, result.item, done, total, stage))

        try:
            os.makedirs(self.output_dir, exist_ok=True)
            transfer = self._transfer(plan)
            if transfer == "headless":
                try:
                    self._run_headless(plan, report, cancel)
                except FrameloomError as exc:
                    # The server's view of a mapped path can differ from what its roots suggest.
                    if self.bridge["transfer"] != "auto" or exc.code not in ("NOT_FOUND",
                                                                             "PERMISSION_DENIED"):
                        raise
                    transfer = "stream"
            if transfer == "stream":
                self._run_stream(plan, report, cancel)
            result.transfer = transfer
            result.media = plan.output
        except Cancelled:
            result.error, result.cancelled = "cancelled; nothing was placed", True
        except (FrameloomError, UserError, OSError) as exc:
            if cancel.cancelled:
                result.error, result.cancelled = "cancelled; nothing was placed", True
            else:
                result.error = f"{result.item}: {_describe_error(exc)}"
        finally:
            cancel.on_cancel(None)

    def _transfer(self, plan: Plan) -> str:
        wanted = self.bridge["transfer"]
        roots = list(self._capabilities.media_roots)
        sees = [under_roots(p, roots) for p in (self.path_map.to_server(plan.source.path),
                                                 self.path_map.to_server(self.output_dir))]
        if not all(sees) and not self.path_map.mapped:
            # Same machine: compare real paths, as the server does.
            sees = [under_roots(os.path.realpath(p), roots)
                    for p in (plan.source.path, self.output_dir)]
        if wanted == "headless" and not all(sees):
            what = "the clip's media" if not sees[0] else "output_dir"
            raise BridgeError(f"the server cannot see {what} (its media roots: "
                              f"{', '.join(roots) or 'none'}); set path_map or use transfer=stream")
        if wanted == "auto":
            return "headless" if all(sees) else "stream"
        return wanted

    def _run_headless(self, plan: Plan, report, cancel: CancelToken) -> None:
        spec = pb.JobSpec()
        spec.CopyFrom(plan.spec)
        tiff = self.bridge["result_format"] == "tiff"
        if not tiff and not plan.output.endswith(".mov"):
            plan.output += ".mov"
        spec.input = self.path_map.to_server(plan.source.path)
        spec.output = self.path_map.to_server(plan.output)
        spec.output_options.codec = "tiff" if tiff else "prores"
        spec.output_options.bit_depth = 16 if tiff else 0
        spec.output_options.no_audio = True   # the item's own audio stays where it is
        job = self._client.submit(spec)
        plan.result.job_id = job.id
        cancel.on_cancel(lambda: self._client.cancel_job(job.id))
        report(0, plan.source.source_count, "queued")
        self._client.wait(job.id, lambda j: report(j.done, j.total or plan.source.source_count,
                                                  j.stage or pb.JobState.Name(j.state)))
        if cancel.cancelled:
            raise Cancelled("CANCELLED", "cancelled")
        if not os.path.exists(plan.output):
            raise BridgeError(f"the server wrote {spec.output}, but it is not at {plan.output} here; "
                              "check path_map")
        plan.frames_written = plan.source.source_count

    def _run_stream(self, plan: Plan, report, cancel: CancelToken) -> None:
        src = plan.source
        plan.output = plan.output.removesuffix(".mov")
        os.makedirs(plan.output, exist_ok=True)
        spec = pb.JobSpec()
        spec.CopyFrom(plan.spec)
        spec.ClearField("frames")
        call = self._client.stylize(spec, decode_frames(src.path, src.source_start, src.source_count),
                                    first_index=src.source_start, frame_count=src.source_count,
                                    fps=src.media_fps, result_bit_depth=16, cache=False,
                                    progress=lambda p: report(p.done, p.total or src.source_count,
                                                              p.stage or "running"))
        cancel.on_cancel(call.cancel)
        written = set()
        for index, image in call:
            write_tiff(os.path.join(plan.output, SEQUENCE_PATTERN % index), image)
            written.add(index)
            report(len(written), src.source_count, "receiving")
        plan.result.job_id = call.job_id
        missing = set(range(src.source_start, src.source_end + 1)) - written
        if missing:
            raise BridgeError(f"the server ended the stream without frames {min(missing)}-"
                              f"{max(missing)}; nothing was placed")
        plan.frames_written = len(written)

    # ---- 3. place (Resolve writes) ----------------------------------------------------------

    def place(self, plan: Plan) -> ItemResult:
        result, src = plan.result, plan.source
        if result.error or not result.media:
            return result
        try:
            folder = host.media_bin(self.media_pool, str(self.bridge["bin"]))
            sequence = None
            if os.path.isdir(plan.output):
                sequence = (os.path.join(plan.output, SEQUENCE_PATTERN), src.source_start,
                            src.source_end)
            media = host.import_media(self.media_pool, folder, plan.output, sequence)
            result.imported = True
            if self.bridge["placement"] == "take":
                placed = self._placer.as_take(src, media)
            else:
                placed = self._placer.on_track(src, media, plan.frames_written)
        except UserError as exc:
            result.error = str(exc)
            return result
        result.ok = True
        result.placement, result.track = placed.how, placed.track
        result.record_frame, result.duration = placed.record_frame, placed.duration
        result.take_index = placed.take_index
        return result


def stylize_items(resolve=None, items=None, settings: Mapping[str, Any] | None = None, *,
                  progress: Progress | None = None,
                  cancel: CancelToken | None = None) -> list[ItemResult]:
    """Stylize timeline items and put each result back in place; blocks until done.

    ``resolve``: Resolve's scripting object (None: connect through external scripting).
    ``items``: TimelineItems (None: the selection, else the video item under the playhead).
    ``settings``: at least ``server`` (HOST:PORT), ``style`` (``filter:cartoon``, ``diffusion``,
    ...), ``placement`` (``"track"`` or ``"take"``) and ``output_dir``; see
    :data:`BRIDGE_SETTINGS` for the bridge's own and ``frameloom_client.jobspec.build_spec`` for
    the job's (model, prompt, negative_prompt, strength, guidance, steps, seed, deflicker,
    window, params, ...).

    Returns one :class:`ItemResult` per item, in order: where it was placed, the media written,
    the job id, or the error. A failure leaves nothing half-placed on the timeline.
    """
    session = Session(resolve, settings)
    try:
        plans = session.plan(items)
        for index, plan in enumerate(plans):
            session.run(plan, index=index, count=len(plans), progress=progress, cancel=cancel)
            session.place(plan)
        return [plan.result for plan in plans]
    finally:
        session.close()
