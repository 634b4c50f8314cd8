"""The host adapter: the only code that calls Resolve's objects.

Resolve's API reports failure by returning ``None`` or ``False`` (or a "dead" handle whose methods
all return ``None``), almost never by raising, and methods come and go between versions. So
every call whose absence or failure matters goes through :func:`probe`, every placement is
verified by enumerating the track again, and a method's presence is tested by calling it rather
than by reading version strings.

Frames: ``TimelineItem.GetStart``/``GetDuration``/``GetLeftOffset`` are in timeline frames;
``GetStart`` is absolute (a timeline starting at 01:00:00:00 at 24 fps starts at 86400). Item
markers are relative to the item's first frame, timeline markers to the timeline's start. Source
frame indices are 0-based positions in the media file, at the media's own rate.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .errors import BridgeError, PlacementFailed
from .media import parse_fps

#: Media-pool item types that are not a media file frameloom can read.
_REFUSED_TYPES = {"compound": "a compound clip", "fusion": "a Fusion clip",
                  "timeline": "a timeline clip", "generator": "a generator", "title": "a title",
                  "multicam": "a multicam clip", "still": "a still image", "audio": "audio only"}
_VIDEO_EXTENSIONS = {".mov", ".mp4", ".m4v", ".mkv", ".mxf", ".avi", ".webm", ".mts", ".m2ts"}


def probe(obj, name: str, *args):
    """``obj.name(*args)``, or None when this Resolve has no such method. Resolve's remote
    objects may answer an unknown name with a callable that returns None, older versions with
    AttributeError; both read as "not available"."""
    method = getattr(obj, name, None)
    if not callable(method):
        return None
    try:
        return method(*args)
    except (AttributeError, TypeError):
        return None


def alive(item) -> bool:
    """False for the dead handles Resolve returns for things it did not do."""
    return item is not None and probe(item, "GetStart") is not None and \
        probe(item, "GetDuration") is not None


def same(a, b) -> bool:
    """Two Resolve handles for one object (handles are new Python objects on every call)."""
    if a is None or b is None:
        return False
    if a is b:
        return True
    ida, idb = probe(a, "GetUniqueId"), probe(b, "GetUniqueId")
    return ida is not None and ida == idb


def timeline_fps(project, timeline) -> Fraction:
    fps = parse_fps(probe(timeline, "GetSetting", "timelineFrameRate")) or \
        parse_fps(probe(project, "GetSetting", "timelineFrameRate"))
    if fps is None:
        raise BridgeError("cannot read the timeline's frame rate from Resolve")
    return fps


def timecode(frame: int, fps: Fraction) -> str:
    rate = round(float(fps))
    f = int(frame)
    return f"{f // (3600 * rate):02d}:{f // (60 * rate) % 60:02d}:{f // rate % 60:02d}:{f % rate:02d}"


# ---------------------------------------------------------------------------------------------
# Which items
# ---------------------------------------------------------------------------------------------


def selected_items(timeline) -> list:
    """The selected video items (``Timeline.GetSelectedClips``, Resolve 21+), else the video item
    under the playhead (``GetCurrentVideoItem``, 18-20). Chosen by calling, not by version."""
    selection = probe(timeline, "GetSelectedClips")
    if isinstance(selection, dict):   # Lua-style tables arrive as {1: item, ...}
        selection = [selection[k] for k in sorted(selection)]
    items = [i for i in (selection or []) if alive(i) and _is_video(i)]
    if items:
        return _unique(items)
    current = probe(timeline, "GetCurrentVideoItem")
    if alive(current):
        return [current]
    raise BridgeError("nothing to stylize: select clips on the timeline (Resolve 21+) or put the "
                      "playhead over a video clip")


def _is_video(item) -> bool:
    kind = probe(item, "GetTrackTypeAndIndex")
    return not kind or kind[0] == "video"


def _unique(items: list) -> list:
    out: list = []
    for item in items:
        if not any(same(item, seen) for seen in out):
            out.append(item)
    return out


def track_of(timeline, item) -> int:
    kind = probe(item, "GetTrackTypeAndIndex")
    if kind and kind[0] == "video" and kind[1]:
        return int(kind[1])
    for index in range(1, int(timeline.GetTrackCount("video") or 0) + 1):
        if any(same(item, other) for other in timeline.GetItemListInTrack("video", index) or []):
            return index
    raise BridgeError(f"{probe(item, 'GetName') or 'the clip'} is not on a video track of the "
                      "current timeline")


# ---------------------------------------------------------------------------------------------
# What an item shows
# ---------------------------------------------------------------------------------------------


@dataclass
class ClipSource:
    """A timeline item and the source range it shows."""

    item: Any
    name: str
    media_item: Any
    path: str
    media_fps: Fraction
    timeline_fps: Fraction
    record_start: int          # absolute timeline frame of the item's first frame
    duration: int              # timeline frames
    track: int
    source_start: int          # media frame index of the first frame shown
    source_count: int
    markers: list = field(default_factory=list)   # (source frame, marker info, where)

    @property
    def source_end(self) -> int:
        return self.source_start + self.source_count - 1

    def media_frames(self, timeline_frames: float) -> int:
        """A count of timeline frames as media frames (the two rates may differ)."""
        return int(round(Fraction(timeline_frames).limit_denominator(1000)
                         * self.media_fps / self.timeline_fps))

    def to_source(self, item_frame: float) -> int:
        """An item-relative timeline frame as a source frame index."""
        return self.source_start + self.media_frames(item_frame)


def describe(timeline, item, *, fps: Fraction) -> ClipSource:
    """The source range of ``item``, or a BridgeError saying why it cannot be stylized."""
    name = probe(item, "GetName") or "the clip"
    start, duration = probe(item, "GetStart"), probe(item, "GetDuration")
    left = probe(item, "GetLeftOffset")
    if start is None or duration is None or left is None:
        raise BridgeError(f"{name}: Resolve returned no position for it (was it deleted?)")
    media = probe(item, "GetMediaPoolItem")
    if media is None:
        raise BridgeError(f"{name} has no media (titles, generators and Fusion compositions cannot "
                          "be stylized)")
    kind = str(probe(media, "GetClipProperty", "Type") or "").lower()
    # "Video", "Video + Audio" are files; "Audio" alone, "Still", "Compound", ... are not.
    refused = [what for word, what in _REFUSED_TYPES.items()
               if word in kind and not (word == "audio" and "video" in kind)]
    if refused:
        raise BridgeError(f"{name} is {refused[0]}; only clips of video files can be stylized "
                          "(render it to a file first)")
    if probe(media, "GetTimeline") is not None:
        raise BridgeError(f"{name} is a compound or timeline clip; only clips of video files can "
                          "be stylized (render it to a file first)")
    path = str(probe(media, "GetClipProperty", "File Path") or "")
    if not path:
        raise BridgeError(f"{name} has no media file")
    if "[" in os.path.basename(path) or os.path.splitext(path)[1].lower() not in _VIDEO_EXTENSIONS:
        raise BridgeError(f"{name}: {os.path.basename(path)} is not a video file frameloom reads "
                          f"here ({', '.join(sorted(_VIDEO_EXTENSIONS))})")
    if not os.path.isfile(path):
        raise BridgeError(f"{name}: media file not found: {path} (offline in Resolve?)")
    media_fps = parse_fps(probe(media, "GetClipProperty", "FPS"))
    if media_fps is None:
        raise BridgeError(f"{name}: Resolve reports no frame rate for {path}")
    src = ClipSource(item=item, name=name, media_item=media, path=path, media_fps=media_fps,
                     timeline_fps=fps, record_start=int(start), duration=int(duration),
                     track=track_of(timeline, item), source_start=0, source_count=0)
    src.source_start = src.media_frames(left)
    src.source_count = src.media_frames(left + duration) - src.source_start
    frames = probe(media, "GetClipProperty", "Frames")
    try:
        total = int(float(frames)) if frames not in (None, "") else None
    except ValueError:
        total = None
    if src.source_count < 1 or (total is not None and src.source_end >= total):
        raise BridgeError(f"{name}: its range (source frames {src.source_start}-{src.source_end}) "
                          f"is not inside {os.path.basename(path)} ({total} frames); is it retimed?")
    src.markers = _markers(timeline, src)
    return src


def _markers(timeline, src: ClipSource) -> list:
    """Markers inside the item as (source frame, info, where): the item's own first, then the
    timeline's, converted from the timeline's start (often 86400, not 0)."""
    out = []
    for frame, info in sorted((probe(src.item, "GetMarkers") or {}).items()):
        if 0 <= frame < src.duration:
            out.append((src.to_source(frame), info, f"marker at {src.name} +{int(frame)}"))
    timeline_start = probe(timeline, "GetStartFrame") or 0
    for frame, info in sorted((probe(timeline, "GetMarkers") or {}).items()):
        record = timeline_start + frame
        if src.record_start <= record < src.record_start + src.duration:
            out.append((src.to_source(record - src.record_start), info,
                        f"timeline marker at {timecode(record, src.timeline_fps)}"))
    return out


# ---------------------------------------------------------------------------------------------
# Media pool
# ---------------------------------------------------------------------------------------------


def media_bin(media_pool, name: str):
    root = media_pool.GetRootFolder()
    if root is None:
        raise BridgeError("Resolve returned no media pool root folder")
    for folder in root.GetSubFolderList() or []:
        if probe(folder, "GetName") == name:
            return folder
    folder = media_pool.AddSubFolder(root, name)
    if folder is None:
        raise BridgeError(f"Resolve did not create the media-pool bin {name!r}")
    return folder


def _file_path(media) -> str:
    return str(probe(media, "GetClipProperty", "File Path") or "")


def import_media(media_pool, folder, path: str, sequence: tuple[str, int, int] | None = None):
    """Import ``path`` (a file, or ``sequence`` = (pattern, first, last) of an image sequence)
    into ``folder``. ImportMedia imports into the *current* folder, so that is set first and put
    back after. A file already in the pool is found instead of imported twice."""
    previous = media_pool.GetCurrentFolder()
    if not media_pool.SetCurrentFolder(folder):
        raise BridgeError("Resolve would not open the frameloom bin to import into")
    try:
        if sequence is None:
            imported = media_pool.ImportMedia([path])
        else:
            pattern, first, last = sequence
            imported = media_pool.ImportMedia([{"FilePath": pattern, "StartIndex": first,
                                                "EndIndex": last}])
    finally:
        if previous is not None:
            media_pool.SetCurrentFolder(previous)
    wanted = os.path.normpath(path)
    candidates = list(imported or []) + list(folder.GetClipList() or [])
    for media in candidates:
        got = _file_path(media)
        if got and (os.path.normpath(got) == wanted or os.path.dirname(got) == wanted):
            if not any(same(media, c) for c in folder.GetClipList() or []):
                media_pool.MoveClips([media], folder)
            return media
    raise BridgeError(f"Resolve did not import {path}")


# ---------------------------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------------------------


@dataclass
class Placement:
    how: str            # "track" or "take"
    track: int
    record_frame: int
    duration: int
    take_index: int = 0


class Placer:
    """Puts a result back on the timeline and checks that it is there.

    AppendToTimeline's ``endFrame`` is documented without saying whether it is inclusive; the
    placer asks with one reading, measures what landed, and on a wrong duration deletes it and
    asks with the other; the reading that worked is tried first for the next clip."""

    def __init__(self, timeline, media_pool):
        self.timeline, self.media_pool = timeline, media_pool
        self.readings = ["inclusive", "exclusive"]

    def free_track_above(self, src: ClipSource) -> int:
        """The first video track above the item that is unlocked and empty over its range; a new
        track when there is none."""
        tl = self.timeline
        count = int(tl.GetTrackCount("video") or 0)
        end = src.record_start + src.duration
        for index in range(src.track + 1, count + 1):
            if probe(tl, "GetIsTrackLocked", "video", index):
                continue
            if not any(_overlaps(other, src.record_start, end)
                       for other in tl.GetItemListInTrack("video", index) or []):
                return index
        if not tl.AddTrack("video") or int(tl.GetTrackCount("video") or 0) != count + 1:
            raise PlacementFailed("Resolve did not add a video track for the result")
        return count + 1

    def _ids(self, track: int) -> set:
        return {probe(i, "GetUniqueId") for i in self.timeline.GetItemListInTrack("video", track) or []}

    def _find(self, track: int, record: int, media, before: set):
        """The item the last append put there: new on the track, at ``record``, of ``media``."""
        for other in self.timeline.GetItemListInTrack("video", track) or []:
            if probe(other, "GetUniqueId") not in before and probe(other, "GetStart") == record \
                    and same(probe(other, "GetMediaPoolItem"), media):
                return other
        return None

    def on_track(self, src: ClipSource, media, frames: int) -> Placement:
        track = self.free_track_above(src)
        where = f"V{track} at {timecode(src.record_start, src.timeline_fps)}"
        for reading in list(self.readings):
            end = frames - 1 if reading == "inclusive" else frames
            before = self._ids(track)
            returned = self.media_pool.AppendToTimeline([{
                "mediaPoolItem": media, "startFrame": 0, "endFrame": end, "mediaType": 1,
                "trackIndex": track, "recordFrame": src.record_start}]) or []
            placed = self._find(track, src.record_start, media, before)
            if placed is None:
                dead = any(not alive(r) for r in returned)
                raise PlacementFailed(
                    f"Resolve placed nothing on {where}: "
                    + ("the track is locked" if dead or probe(self.timeline, "GetIsTrackLocked",
                                                              "video", track)
                       else "the range is taken") + "; the result is in the frameloom bin")
            got = probe(placed, "GetDuration")
            if got == src.duration:
                if self.readings[0] != reading:
                    self.readings.reverse()
                return Placement("track", track, src.record_start, int(got))
            # The other reading of endFrame: take this one back before trying it.
            if not self.timeline.DeleteClips([placed]) or \
                    self._find(track, src.record_start, media, before):
                raise PlacementFailed(f"the result on {where} is {got} frames, not {src.duration}, "
                                      "and Resolve would not remove it; delete it by hand")
        raise PlacementFailed(f"Resolve placed the result on {where} with the wrong duration "
                              f"(expected {src.duration} frames); nothing was left on the timeline; "
                              "the result is in the frameloom bin")

    def as_take(self, src: ClipSource, media) -> Placement:
        """A new take on the item, selected; the item's other takes stay. Without extents
        AddTake uses the whole clip, which is exactly the item's range."""
        item = src.item
        before = int(probe(item, "GetTakesCount") or 0)
        if not probe(item, "AddTake", media):
            raise PlacementFailed(f"Resolve refused to add a take to {src.name} on V{src.track} "
                                  "(is the track locked?); the result is in the frameloom bin")
        count = int(probe(item, "GetTakesCount") or 0)
        info = probe(item, "GetTakeByIndex", count) or {}
        problem = None
        if count <= before or not same(info.get("mediaPoolItem"), media):
            problem = "Resolve did not add the take"
        elif not probe(item, "SelectTakeByIndex", count) or \
                probe(item, "GetSelectedTakeIndex") != count:
            problem = "Resolve did not select the new take"
        elif probe(item, "GetStart") != src.record_start or \
                probe(item, "GetDuration") != src.duration:
            problem = "the clip moved or changed length when the take was selected"
        if problem:
            if count > before:
                probe(item, "DeleteTakeByIndex", count)
            if before:
                probe(item, "SelectTakeByIndex", 1)
            raise PlacementFailed(f"{src.name}: {problem}; the take was taken back and the result "
                                  "is in the frameloom bin")
        return Placement("take", src.track, src.record_start, src.duration, take_index=count)


def _overlaps(item, start: int, end: int) -> bool:
    a, d = probe(item, "GetStart"), probe(item, "GetDuration")
    if a is None or d is None:
        return True   # an item we cannot read might be in the way
    return a < end and start < a + d
