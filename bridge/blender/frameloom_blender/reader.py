"""Read the frames a strip shows, as Blender shows them, through the sequencer's own render.

Why the sequencer render and not our own decode: Blender has no PyAV, and the render is what the
editor displays: the same FFmpeg decode, the strip's modifiers and colour settings, trims, speed
and reversal, image sequences and movies alike. Only colour management is taken out of it: the
view transform is set to Standard (no look, exposure 0, gamma 1, no curves, no dither), so the
frames are the strip's display-referred sRGB pixels, not Filmic's or AgX's picture of them, and
the stylized result (stored as sRGB PNGs) goes back through the same view transform as the
source does. The strip's transform and crop are taken out as well and given to the result strip.

Everything here runs on Blender's main thread. Frames are rendered to PNG (all Blender can hand
over in background mode), loaded by Blender's own image loader, and kept as ``.npy`` files, so the
worker thread streams them without touching bpy and memory stays one frame deep.
"""
from __future__ import annotations

import contextlib
import glob
import os

import bpy
import numpy as np

from frameloom_client import ClipHasher

from . import compat


@contextlib.contextmanager
def temporarily(obj, **values):
    """Set RNA properties for the duration of a with-block, and restore them whatever happens."""
    old = {}
    try:
        for name, value in values.items():
            if not hasattr(obj, name):
                continue
            old[name] = getattr(obj, name)
            setattr(obj, name, value)
        yield obj
    finally:
        for name, value in reversed(list(old.items())):
            try:
                setattr(obj, name, value)
            except (AttributeError, TypeError, ValueError):
                pass


def source_size(strip) -> tuple[int, int]:
    elements = getattr(strip, "elements", None)
    if elements is not None and len(elements) and elements[0].orig_width:
        return int(elements[0].orig_width), int(elements[0].orig_height)
    raise ValueError(f"cannot read the size of {strip.name}: is its media file missing?")


def source_is_16bit(strip) -> bool:
    """Image strips of 16-bit PNG/TIFF files give 16-bit results; movies give 8-bit."""
    if strip.type != "IMAGE" or not len(strip.elements):
        return False
    path = bpy.path.abspath(os.path.join(strip.directory, strip.elements[0].filename))
    image = bpy.data.images.load(path, check_existing=False)
    try:
        return bool(image.is_float)
    finally:
        bpy.data.images.remove(image)


def check_readable(strip) -> None:
    if strip.type not in compat.READABLE_TYPES:
        raise ValueError(f"{strip.name} is a {strip.type.lower()} strip; frameloom stylizes movie "
                         "and image strips")
    if strip.type == "MOVIE":
        path = bpy.path.abspath(strip.filepath)
        if not os.path.isfile(path):
            raise ValueError(f"{strip.name}: media file not found: {path}")
    else:
        first = bpy.path.abspath(os.path.join(strip.directory, strip.elements[0].filename))
        if not os.path.isfile(first):
            raise ValueError(f"{strip.name}: media file not found: {first}")


def _render_settings(scene, depth16: bool):
    """The with-blocks that make a sequencer render hand over plain sRGB pixels."""
    r, im, vs = scene.render, scene.render.image_settings, scene.view_settings
    stack = contextlib.ExitStack()
    stack.enter_context(temporarily(r, use_sequencer=True, use_compositing=False, use_border=False,
                                    resolution_percentage=100, pixel_aspect_x=1.0,
                                    pixel_aspect_y=1.0, dither_intensity=0.0, use_stamp=False,
                                    use_file_extension=True, use_overwrite=True,
                                    use_placeholder=False, use_multiview=False))
    stack.enter_context(temporarily(im, media_type="IMAGE"))
    stack.enter_context(temporarily(im, file_format="PNG"))
    stack.enter_context(temporarily(im, color_mode="RGB", color_depth="16" if depth16 else "8",
                                    compression=0, color_management="FOLLOW_SCENE"))
    stack.enter_context(temporarily(scene.display_settings, display_device="sRGB"))
    stack.enter_context(temporarily(vs, view_transform="Standard", look="None", exposure=0.0,
                                    gamma=1.0, use_curve_mapping=False))
    return stack


def render_range(scene, strip, folder: str, depth16: bool) -> list[str]:
    """Render the frames ``strip`` shows into ``folder`` (PNG, one per timeline frame) with every
    other strip muted; returns the files in frame order."""
    start, count, _ = compat.visible_range(strip)
    width, height = source_size(strip)
    os.makedirs(folder, exist_ok=True)
    for old in glob.glob(os.path.join(folder, "src_*.png")):
        os.remove(old)
    others = [s for s in compat.top_strips(scene) if s != strip and not s.mute]
    frame_current = scene.frame_current
    with contextlib.ExitStack() as stack:
        stack.enter_context(_render_settings(scene, depth16))
        stack.enter_context(temporarily(scene.render, resolution_x=width, resolution_y=height,
                                        filepath=os.path.join(folder, "src_########")))
        stack.enter_context(temporarily(scene, frame_start=start, frame_end=start + count - 1,
                                        frame_step=1))
        stack.enter_context(temporarily(strip, mute=False))
        for group in ("transform", "crop"):
            g = getattr(strip, group, None)
            if g is not None:
                neutral = {"scale_x": 1.0, "scale_y": 1.0, "offset_x": 0, "offset_y": 0,
                           "rotation": 0.0, "min_x": 0, "max_x": 0, "min_y": 0, "max_y": 0}
                stack.enter_context(temporarily(g, **{k: v for k, v in neutral.items()
                                                      if hasattr(g, k)}))
        for other in others:
            stack.enter_context(temporarily(other, mute=True))
        try:
            bpy.ops.render.render(animation=True, write_still=False, scene=scene.name)
        finally:
            scene.frame_set(frame_current)
    files = [os.path.join(folder, f"src_{start + i:08d}.png") for i in range(count)]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise RuntimeError(f"Blender did not render {len(missing)} of {count} frames of {strip.name}")
    return files


def load_png(path: str, depth16: bool) -> np.ndarray:
    """A PNG Blender wrote, as ``(H, W, 3)`` uint8/uint16, top row first, values untouched."""
    image = bpy.data.images.load(path, check_existing=False)
    try:
        # Non-Color: 16-bit PNGs would otherwise be linearised into the float buffer.
        image.colorspace_settings.name = "Non-Color"
        width, height = image.size
        pixels = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    top = 65535.0 if depth16 else 255.0
    rgb = pixels.reshape(height, width, 4)[::-1, :, :3]
    return np.ascontiguousarray(np.rint(rgb * top)).astype(np.uint16 if depth16 else np.uint8)


class SourceFrames:
    """The frames of one strip's visible range, read once on the main thread and kept as ``.npy``
    files: a sequence the worker thread can index without bpy. ``hash`` is the clip hash the
    server's cache is keyed on; ``first_index`` the first frame's source index."""

    def __init__(self, paths: list[str], first_index: int, clip_hash: str):
        self.paths, self.first_index, self.hash = paths, first_index, clip_hash

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self):
        for p in self.paths:
            yield np.load(p)


def read_strip(scene, strip, folder: str, depth16: bool) -> SourceFrames:
    _, _, first_index = compat.visible_range(strip)
    pngs = render_range(scene, strip, folder, depth16)
    hasher, paths = ClipHasher(), []
    for i, png in enumerate(pngs):
        frame = load_png(png, depth16)
        hasher.update(first_index + i, frame)
        npy = png[:-4] + ".npy"
        np.save(npy, frame)
        os.remove(png)
        paths.append(npy)
    return SourceFrames(paths, first_index, hasher.hexdigest())
