"""What the Workspace > Scripts panel does, without a window (:mod:`frameloom_resolve.ui` draws it).

Threads: every Resolve call (reading the timeline, importing, placing) happens on the thread
that calls :meth:`PanelController.start` and :meth:`PanelController.tick` (the UI thread, from a
UIManager timer); only the server work of :meth:`Session.run` runs on a worker thread, so the
window stays responsive and Resolve is never called from two threads at once.
"""
from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frameloom_client import FrameloomClient, FrameloomError
from frameloom_client.errors import UserError

from .job import (
    BRIDGE_SETTINGS,
    CancelToken,
    ItemProgress,
    ItemResult,
    Plan,
    Session,
    _token,
)


@dataclass
class Field:
    id: str
    label: str
    kind: str                    # "text", "choice", "int", "float", "bool"
    default: Any = ""
    choices: list = field(default_factory=list)
    diffusion_only: bool = False
    editable: bool = False       # a choice that also takes typed text (model paths)
    low: float = 0.0
    high: float = 0.0


BASE_FIELDS = [
    Field("server", "Server", "text", BRIDGE_SETTINGS["server"]),
    Field("token_file", "Token file", "text", ""),
    Field("style", "Style", "choice", "filter:cartoon",
          ["filter:cartoon", "filter:pencil", "filter:oil", "filter:detail", "diffusion"]),
    Field("model", "Model", "choice", "builtin:tiny", ["builtin:tiny"], diffusion_only=True,
          editable=True),
    Field("prompt", "Prompt", "text", "", diffusion_only=True),
    Field("negative_prompt", "Negative prompt", "text", "", diffusion_only=True),
    Field("strength", "Strength", "float", 0.75, diffusion_only=True, low=0.0, high=1.0),
    Field("guidance", "Guidance", "float", 7.5, diffusion_only=True, low=0.0, high=30.0),
    Field("steps", "Steps", "int", 20, diffusion_only=True, low=1, high=150),
    Field("seed", "Seed", "int", 0, diffusion_only=True, low=0, high=2 ** 31 - 1),
    Field("deflicker", "Deflicker", "choice", "window", ["window", "fast", "none"]),
    Field("window", "Deflicker window", "int", 3, low=1, high=64),
    Field("placement", "Place result", "choice", "track", ["track", "take"]),
    Field("output_dir", "Output folder", "text", ""),
    Field("path_map", "Path map (LOCAL=SERVER)", "text", ""),
]


def fields_for(capabilities=None) -> list[Field]:
    """The panel's fields, with the server's own choices where it has told them."""
    out = [Field(**f.__dict__) for f in BASE_FIELDS]
    if capabilities is None:
        return out
    by_id = {f.id: f for f in out}
    styles = [s for s in capabilities.styles if s not in ("identity", "propagate")]
    if styles:
        by_id["style"].choices = styles
        if by_id["style"].default not in styles:
            by_id["style"].default = styles[0]
    models = [m.name for m in capabilities.models
              if m.kind in ("checkpoint", "diffusers", "builtin")]
    if models:
        by_id["model"].choices = models
        by_id["model"].default = models[0]
    modes = [m for m in capabilities.temporal_modes] or by_id["deflicker"].choices
    by_id["deflicker"].choices = modes
    return out


def settings_from_values(values: dict, fields: list[Field] | None = None) -> dict:
    """``stylize_items`` settings from the panel's values: blanks mean "default", numbers are
    parsed, diffusion fields count only with the diffusion style."""
    fields = fields or BASE_FIELDS
    diffusion = values.get("style") == "diffusion"
    out: dict = {}
    for f in fields:
        value = values.get(f.id, f.default)
        if f.diffusion_only and not diffusion:
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if f.kind == "int":
            value = int(float(value))
        elif f.kind == "float":
            value = float(value)
        elif isinstance(value, str):
            value = value.strip()
        out[f.id] = value
    if out.get("deflicker") == "none":
        out.pop("window", None)
    return out


def _config_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "frameloom"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "frameloom"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "frameloom"


class PanelController:
    """Connect, start, tick, cancel: the panel's behaviour, driven by the UI or by a test."""

    def __init__(self, resolve, *, config_file: str | os.PathLike | None = None):
        self.resolve = resolve
        self.config_file = Path(config_file) if config_file else _config_dir() / "resolve-panel.json"
        self.capabilities = None
        self.fields = fields_for(None)
        self.status = "not connected"
        self.lines: list[str] = []
        self._session: Session | None = None
        self._plans: list[Plan] = []
        self._placed = 0
        self._ran = 0
        self._progress: dict[int, ItemProgress] = {}
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._cancel: CancelToken | None = None
        self.results: list[ItemResult] = []

    # ---- settings kept between sessions -----------------------------------------------------

    def saved_values(self) -> dict:
        try:
            return json.loads(self.config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def save_values(self, values: dict) -> None:
        try:
            self.config_file.parent.mkdir(parents=True, exist_ok=True)
            self.config_file.write_text(json.dumps(values, indent=2), encoding="utf-8")
        except OSError:
            pass   # a read-only home folder must not stop the panel

    # ---- connect ----------------------------------------------------------------------------

    def refresh(self, values: dict) -> bool:
        """Ask the server for its styles and models. False (and ``status`` says why) on failure."""
        try:
            bridge = {"token": None, "token_file": values.get("token_file") or None}
            with FrameloomClient(values.get("server") or BRIDGE_SETTINGS["server"],
                                 token=_token(bridge), timeout=10, ready_timeout=3) as client:
                self.capabilities = client.capabilities()
        except (FrameloomError, UserError) as exc:
            self.capabilities = None
            self.fields = fields_for(None)
            self.status = f"cannot reach the server: {exc}"
            return False
        self.fields = fields_for(self.capabilities)
        devices = ", ".join(d.name for d in self.capabilities.devices) or "no devices"
        self.status = f"connected: frameloom {self.capabilities.engine_version} on {devices}"
        return True

    # ---- run --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._session is not None

    def start(self, values: dict, items=None) -> bool:
        """Plan on this thread (Resolve calls), then run on a worker. False when nothing runs."""
        if self.running:
            return False
        self.save_values(values)
        self.results, self.lines, self._progress = [], [], {}
        try:
            session = Session(self.resolve, settings_from_values(values, self.fields))
            plans = session.plan(items)
        except UserError as exc:
            self.status = str(exc)
            return False
        self._session, self._plans, self._placed, self._ran = session, plans, 0, 0
        self._cancel = CancelToken()
        self.status = f"stylizing {len(plans)} clip{'s' if len(plans) != 1 else ''}"
        self._worker = threading.Thread(target=self._run_all, name="frameloom-panel", daemon=True)
        self._worker.start()
        return True

    def _run_all(self) -> None:
        for index, plan in enumerate(self._plans):
            self._session.run(plan, index=index, count=len(self._plans), progress=self._on_progress,
                              cancel=self._cancel)
            with self._lock:
                self._ran = index + 1

    def _on_progress(self, p: ItemProgress) -> None:
        with self._lock:
            self._progress[p.index] = p

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()
            self.status = "cancelling..."

    def tick(self) -> bool:
        """Called on the UI thread by a timer: places what has finished, refreshes ``lines``.
        True while work remains."""
        if self._session is None:
            return False
        with self._lock:
            ran, progress = self._ran, dict(self._progress)
        while self._placed < ran:            # Resolve calls: here, on the UI thread
            plan = self._plans[self._placed]
            self.results.append(self._session.place(plan))
            self._placed += 1
        lines = [str(r) for r in self.results]
        if self._placed < len(self._plans):
            p = progress.get(self._placed)
            name = self._plans[self._placed].result.item
            step = f"{p.done}/{p.total} frames ({p.stage})" if p else "starting"
            lines.append(f"{self._placed + 1}/{len(self._plans)} {name}: {step}")
        self.lines = lines
        if self._placed == len(self._plans):
            ok = sum(r.ok for r in self.results)
            self.status = f"done: {ok} of {len(self.results)} placed"
            self._session.close()
            self._session = None
            return False
        return True

    def wait(self, timeout: float = 120.0) -> list[ItemResult]:
        """Tick until done (tests and scripts without a UI loop)."""
        import time

        deadline = time.monotonic() + timeout
        while self.tick():
            if time.monotonic() > deadline:
                raise TimeoutError("the panel's run did not finish in time")
            time.sleep(0.02)
        return self.results
