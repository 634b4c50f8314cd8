"""The one place that knows how Blender's sequencer API differs between generations.

- Strip collections: ``sequence_editor.sequences`` / ``sequences_all`` up to 4.x, ``strips`` /
  ``strips_all`` from 5.0 (the ``Sequence`` types became ``Strip``).
- Hard trims (the part of the source a strip never shows): ``animation_offset_start`` up to 5.0,
  the ``content_*`` names in 5.1. Soft trims (the handles) are read name-free as
  ``frame_final_start - frame_start``.
- F-curves: ``action.fcurves`` on Blender <= 4.3 (legacy actions); the slotted action's
  channelbag (``action.layers[].strips[].channelbag(slot)``) on 4.4+, the only way on 5.x.

Everything else in the add-on goes through these functions instead of probing attributes itself.
"""
from __future__ import annotations

import os

#: Strip types whose pixels the add-on can read (sound, scene, colour, effect strips it refuses).
READABLE_TYPES = ("MOVIE", "IMAGE")
MAX_CHANNEL = 128


def editor(scene, create: bool = False):
    if scene.sequence_editor is None and create:
        scene.sequence_editor_create()
    return scene.sequence_editor


def top_strips(scene):
    """The strips at the top level of the timeline (not inside meta strips)."""
    ed = editor(scene)
    if ed is None:
        return []
    return ed.strips if hasattr(ed, "strips") else ed.sequences


def all_strips(scene):
    ed = editor(scene)
    if ed is None:
        return []
    return ed.strips_all if hasattr(ed, "strips_all") else ed.sequences_all


def selected_strips(scene) -> list:
    """Selected top-level strips, in timeline order (channel, then start)."""
    return sorted((s for s in top_strips(scene) if s.select),
                  key=lambda s: (s.frame_final_start, s.channel))


def hard_trim_start(strip) -> int:
    """Source frames cut off the start of the strip's content (not its handles)."""
    for name in ("animation_offset_start", "content_trim_start", "content_offset_start"):
        if hasattr(strip, name):
            return int(getattr(strip, name))
    return 0


def visible_range(strip) -> tuple[int, int, int]:
    """``(timeline start, frame count, first source index)`` of what the strip shows.

    The source index is the 0-based position of the frame in the strip's file or image list,
    which is what ``frameloom stylize --frames`` counts in and what keyframes are sent in."""
    start = int(strip.frame_final_start)
    count = int(strip.frame_final_duration)
    handle = start - int(round(strip.frame_start))
    return start, count, hard_trim_start(strip) + handle


def new_image_strip(scene, name: str, directory: str, files: list[str], channel: int, start: int):
    editor(scene, create=True)
    strip = top_strips(scene).new_image(name=name, filepath=os.path.join(directory, files[0]),
                             channel=channel, frame_start=start)
    for f in files[1:]:
        strip.elements.append(f)
    return strip


def remove_strip(scene, strip) -> None:
    top_strips(scene).remove(strip)


def free_channel_above(scene, strip, start: int, end: int, ignore=()) -> int:
    """The first channel above ``strip`` with nothing in ``[start, end)``."""
    busy = {}
    for other in top_strips(scene):
        if other == strip or any(other == i for i in ignore):
            continue
        if other.frame_final_start < end and other.frame_final_end > start:
            busy[other.channel] = True
    for channel in range(strip.channel + 1, MAX_CHANNEL + 1):
        if channel not in busy:
            return channel
    raise RuntimeError(f"no free channel above {strip.name} for frames {start}-{end - 1}")


def scene_fcurves(scene) -> list:
    """The scene's F-curves (where ``scene.frameloom`` settings are keyframed)."""
    ad = scene.animation_data
    if ad is None or ad.action is None:
        return []
    action = ad.action
    slot = getattr(ad, "action_slot", None)
    if hasattr(action, "layers") and slot is not None and len(action.layers):
        curves = []
        for layer in action.layers:
            for strip in layer.strips:
                bag = strip.channelbag(slot)
                if bag is not None:
                    curves.extend(bag.fcurves)
        return curves
    return list(getattr(action, "fcurves", ()))


def copy_placement(src, dst) -> None:
    """Give ``dst`` the source's transform and crop (its frames were read without them)."""
    for group in ("transform", "crop"):
        a, b = getattr(src, group, None), getattr(dst, group, None)
        if a is None or b is None:
            continue
        for prop in a.bl_rna.properties:
            if prop.identifier != "rna_type" and not prop.is_readonly:
                setattr(b, prop.identifier, getattr(a, prop.identifier))
