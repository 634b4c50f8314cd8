"""Keyframes from Resolve markers: a marker whose name, note or customData sets a job setting.

A marker's **name** or **note** holds lines such as ``prompt: a watercolor harbour`` or
``strength: 0.6`` (one per line, or separated by ``;``); its **customData** may hold the same as
JSON (``{"prompt": "...", "strength": 0.6}``), which wins over the text. Keys: ``prompt``,
``negative_prompt`` (or ``negative prompt``), ``strength``, ``guidance``, ``seed``,
``param:NAME`` (a stylizer parameter) and ``controlnet:KIND`` (a ControlNet scale). A marker with
none of them (``Marker 1``, ``Note: fix focus``) is not a keyframe and is left alone.

The frames given here are already source frame indices; :mod:`frameloom_resolve.host` converts
item-relative and timeline-relative marker positions.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from frameloom_client.jobspec import keyframes_from_tracks

from .errors import BridgeError

_LINE = re.compile(r"^\s*([A-Za-z][\w \-]*?(?::[\w\-]+)?)\s*[:=]\s*(.+?)\s*$")
_TEXT_KEYS = ("prompt", "negative_prompt")
_NUMBER_KEYS = ("strength", "guidance")


def _setting_name(key: str) -> str | None:
    key = key.strip().lower()
    if ":" in key:
        kind, _, name = key.partition(":")
        kind = kind.strip()
        if kind in ("param", "controlnet") and name.strip():
            return f"{kind}:{name.strip()}"
        return None
    key = re.sub(r"[\s\-]+", "_", key)
    key = {"negative": "negative_prompt", "neg_prompt": "negative_prompt"}.get(key, key)
    return key if key in (*_TEXT_KEYS, *_NUMBER_KEYS, "seed") else None


def _value(setting: str, raw: Any, where: str):
    if setting in _TEXT_KEYS:
        return str(raw)
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise BridgeError(f"{where}: {setting} must be a number, got {raw!r}") from None
    if setting == "seed":
        if number != int(number):
            raise BridgeError(f"{where}: seed must be a whole number, got {raw!r}")
        return int(number)
    if setting == "strength" and not 0.0 <= number <= 1.0:
        raise BridgeError(f"{where}: strength must be in [0, 1], got {raw!r}")
    return number


def marker_settings(info: Mapping[str, Any], where: str = "marker") -> dict[str, Any]:
    """The job settings one marker sets (empty when it is an ordinary marker)."""
    found: dict[str, Any] = {}
    for field in ("name", "note"):
        for line in re.split(r"[\n;]", str(info.get(field) or "")):
            m = _LINE.match(line)
            setting = _setting_name(m.group(1)) if m else None
            if setting:
                found[setting] = _value(setting, m.group(2), where)
    custom = str(info.get("customData") or "").strip()
    if custom.startswith("{"):
        try:
            data = json.loads(custom)
        except ValueError:
            raise BridgeError(f"{where}: customData is not valid JSON: {custom[:60]!r}") from None
        for key, raw in data.items():
            setting = _setting_name(str(key))
            if setting:
                found[setting] = _value(setting, raw, where)
    return found


def keyframes_from_markers(markers: Iterable[tuple[int, Mapping[str, Any], str]]):
    """``(source frame, marker info, where)`` triples -> JobSpec keyframes. Earlier entries win
    where two markers set the same setting on the same frame (pass item markers first)."""
    tracks: dict[str, dict[int, Any]] = {}
    for frame, info, where in markers:
        for setting, value in marker_settings(info, where).items():
            tracks.setdefault(setting, {}).setdefault(int(frame), value)
    return keyframes_from_tracks({name: sorted(samples.items()) for name, samples in tracks.items()})
