"""The add-on's settings (``scene.frameloom``) and what the server offers (``window_manager``).

Every numeric setting is an animatable float, so Blender's own keyframes (I key, Graph Editor)
drive it; :func:`spec_settings` and :func:`keyframe_tracks` turn the settings and their F-curves
into :func:`frameloom_client.jobspec.build_spec` settings and keyframes. Prompts change over time
through the frame-ordered ``prompts`` list or timeline markers named ``prompt: ...``.
"""
from __future__ import annotations

import re

import bpy
from bpy.props import (BoolProperty, CollectionProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)

from . import compat

TEMPORAL_ITEMS = [("window", "Window", "deflicker against every neighbour in the window"),
                  ("fast", "Fast", "wide windows in O(log w) matches per frame"),
                  ("none", "None", "no deflicker (flickers)")]
_MARKER = re.compile(r"^\s*prompt\s*:\s*(.*)$", re.I)


class FrameloomName(bpy.types.PropertyGroup):
    """One name the server offers (a style, model or ControlNet)."""
    kind: StringProperty()


class FrameloomParam(bpy.types.PropertyGroup):
    """A stylizer parameter (``name`` is the parameter, e.g. ``levels``); keyframe ``value``."""
    value: FloatProperty(name="Value", default=0.0)


class FrameloomControlNet(bpy.types.PropertyGroup):
    kind: StringProperty(name="Kind", default="depth",
                         description="depth, softedge, canny, openpose or tile")
    model: StringProperty(name="Model", description="ControlNet model as the server names it")
    scale: FloatProperty(name="Scale", default=1.0, min=0.0, soft_max=2.0)


class FrameloomPrompt(bpy.types.PropertyGroup):
    frame: IntProperty(name="Frame", description="timeline frame from which this prompt applies")
    text: StringProperty(name="Prompt")


class FrameloomSettings(bpy.types.PropertyGroup):
    server: StringProperty(name="Server", default="127.0.0.1:50051", description="HOST:PORT")
    token_file: StringProperty(name="Token file", subtype="FILE_PATH",
                               description="file holding the server's bearer token")
    tls: BoolProperty(name="TLS", description="connect with TLS")
    tls_ca: StringProperty(name="CA file", subtype="FILE_PATH",
                           description="PEM root certificate (empty: the system's roots)")
    style: StringProperty(name="Style", default="filter:cartoon",
                          description="a style the server offers, e.g. filter:cartoon or diffusion")
    params: CollectionProperty(type=FrameloomParam)
    model: StringProperty(name="Model", description="diffusion model as the server names it")
    prompt: StringProperty(name="Prompt")
    negative_prompt: StringProperty(name="Negative")
    prompts: CollectionProperty(type=FrameloomPrompt)
    strength: FloatProperty(name="Strength", default=0.75, min=0.0, max=1.0)
    guidance: FloatProperty(name="Guidance", default=7.5, min=0.0, soft_max=20.0)
    steps: IntProperty(name="Steps", default=20, min=1, max=1000)
    seed: IntProperty(name="Seed", default=0, min=0)
    controlnets: CollectionProperty(type=FrameloomControlNet)
    temporal_mode: bpy.props.EnumProperty(name="Deflicker", items=TEMPORAL_ITEMS, default="window")
    window: IntProperty(name="Window", default=3, min=1, max=64, description="+- frames")
    # Runtime state the panel shows (not settings).
    progress: FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty(name="Status")
    running: BoolProperty()


class FrameloomOfferParam(bpy.types.PropertyGroup):
    """A parameter a style takes (``name``), with its default and range, as the server says."""
    style: StringProperty()
    default: FloatProperty()
    low: FloatProperty()
    high: FloatProperty()
    description: StringProperty()


class FrameloomOffer(bpy.types.PropertyGroup):
    """What the connected server offers, read from its capabilities."""
    styles: CollectionProperty(type=FrameloomName)
    params: CollectionProperty(type=FrameloomOfferParam)
    models: CollectionProperty(type=FrameloomName)
    controlnets: CollectionProperty(type=FrameloomName)
    server: StringProperty()


CLASSES = (FrameloomName, FrameloomParam, FrameloomControlNet, FrameloomPrompt, FrameloomSettings,
           FrameloomOfferParam, FrameloomOffer)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.frameloom = PointerProperty(type=FrameloomSettings)
    bpy.types.WindowManager.frameloom_offer = PointerProperty(type=FrameloomOffer)


def unregister():
    del bpy.types.WindowManager.frameloom_offer
    del bpy.types.Scene.frameloom
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)


def set_offer(wm, target: str, caps) -> None:
    offer = wm.frameloom_offer
    offer.server = target
    for coll in (offer.styles, offer.models, offer.controlnets, offer.params):
        coll.clear()
    for style in caps.styles:
        offer.styles.add().name = style
    for info in getattr(caps, "style_info", ()):       # servers before 0.2 do not say
        for p in info.params:
            item = offer.params.add()
            item.name, item.style, item.default = p.name, info.kind, p.default_value
            item.low, item.high, item.description = p.min, p.max, p.description
    for m in caps.models:
        item = (offer.controlnets if m.kind == "controlnet" else offer.models).add()
        item.name, item.kind = m.name, m.kind


def offered_params(wm, style: str) -> list:
    return [p for p in wm.frameloom_offer.params if p.style == style]


# ---- settings -> JobSpec ----------------------------------------------------------------------

def spec_settings(s: FrameloomSettings) -> dict:
    """The build_spec settings the panel holds (non-strict: settings of other styles drop)."""
    out = {"style": s.style.strip(), "deflicker": s.temporal_mode}
    if s.temporal_mode != "none":
        out["window"] = s.window
    params = {p.name.strip(): p.value for p in s.params if p.name.strip()}
    if params:
        out["params"] = params
    if out["style"] == "diffusion":
        out.update(model=s.model.strip(), prompt=s.prompt, negative_prompt=s.negative_prompt,
                   strength=s.strength, guidance=s.guidance, steps=s.steps, seed=s.seed,
                   controlnets=[{"kind": c.kind.strip(), "model": c.model.strip(), "scale": c.scale}
                                for c in s.controlnets])
    return out


_TRACK_PATHS = (("strength", "frameloom.strength"), ("guidance", "frameloom.guidance"))


def _curve_tracks(scene, s: FrameloomSettings) -> dict[str, str]:
    """Keyframe track name -> the data path of an F-curve that animates it."""
    diffusion = s.style.strip() == "diffusion"
    paths = {}
    if diffusion:
        paths.update({path: name for name, path in _TRACK_PATHS})
        for i, c in enumerate(s.controlnets):
            paths[f"frameloom.controlnets[{i}].scale"] = f"controlnet:{c.kind.strip()}"
    for i, p in enumerate(s.params):
        if p.name.strip():
            paths[f"frameloom.params[{i}].value"] = f"param:{p.name.strip()}"
    return {paths[fc.data_path]: fc for fc in compat.scene_fcurves(scene)
            if fc.data_path in paths and not fc.mute and len(fc.keyframe_points)}


def prompt_schedule(scene, s: FrameloomSettings) -> list[tuple[int, str]]:
    """(timeline frame, prompt) changes: the panel's list and ``prompt: ...`` markers."""
    items = [(p.frame, p.text) for p in s.prompts if p.text.strip()]
    items += [(m.frame, _MARKER.match(m.name).group(1)) for m in scene.timeline_markers
              if _MARKER.match(m.name)]
    return sorted(items, key=lambda fp: fp[0])


def keyframe_tracks(scene, s: FrameloomSettings, start: int, count: int,
                    first_index: int) -> dict[str, list]:
    """Per-frame samples of every animated setting over timeline frames ``start..start+count-1``,
    as ``(source index, value)`` for :func:`keyframes_from_tracks`."""
    tracks: dict[str, list] = {}
    for name, fc in _curve_tracks(scene, s).items():
        tracks[name] = [(first_index + i, fc.evaluate(start + i)) for i in range(count)]
    changes = prompt_schedule(scene, s) if s.style.strip() == "diffusion" else []
    if changes:
        samples = []
        for i in range(count):
            current = s.prompt
            for frame, text in changes:
                if frame <= start + i:
                    current = text
            samples.append((first_index + i, current))
        tracks["prompt"] = samples
    return tracks
