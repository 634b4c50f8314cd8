"""A fake of DaVinci Resolve's scripting API, written from Blackmagic's scripting README, with the
behaviour that trips scripts up kept on purpose:

- failures are ``None``/``False``/``[]``, never exceptions; unknown or not-yet-added methods are
  missing (``AttributeError``), or, with ``remote_style=True``, answer like Resolve's remote
  objects with a callable that returns None;
- ``Timeline.GetSelectedClips`` exists from 21.0; ``GetIsTrackLocked``/``SetTrackLock`` from 18.0;
- every call hands out a new handle object, so ``is`` never identifies anything (GetUniqueId does);
- timelines start at 86400 (01:00:00:00 at 24 fps); item markers are relative to the item's first
  frame, timeline markers to the timeline's start;
- ``ImportMedia`` imports into the media pool's *current* folder and skips files already in the
  pool; image sequences take the project's frame rate;
- ``AppendToTimeline`` drops a clip that overlaps another on its track without a word, returns
  a dead handle (truthy, every method returns None) for a locked track, and reads ``endFrame``
  as inclusive (``append_end_inclusive=False`` for the other reading);
- ``AddTake`` turns an item into a take selector whose first take is the original, and refuses
  (False) on a locked track.

Test-only helpers are lower-case (``add_clip``, ``add_title``, ``select``, ``playhead``, ...).
"""
from __future__ import annotations

import itertools
import os
from fractions import Fraction

import av

_ids = itertools.count(1000)


class _Dead:
    """What Resolve hands back for a thing it did not do: truthy, and every method is None."""

    def __getattr__(self, name):
        return lambda *a, **k: None

    def __bool__(self):
        return True


class _Handle:
    """A fresh proxy per call, like Resolve's remote objects."""

    def __init__(self, target):
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name):
        hook = self._target._app.on_call
        if hook is not None:
            hook()
        return getattr(self._target, name)

    def __repr__(self):
        return f"<handle {type(self._target).__name__} {self._target._id}>"


def _h(obj):
    return None if obj is None else _Handle(obj)


def _u(obj):
    return obj._target if isinstance(obj, _Handle) else obj


class _Remote:
    """Version gating and Resolve's way with unknown names."""

    SINCE: dict = {}

    def __init__(self, app):
        object.__setattr__(self, "_app", app)
        object.__setattr__(self, "_id", str(next(_ids)))

    def __getattribute__(self, name):
        since = type(self).SINCE.get(name) if not name.startswith("_") else None
        if since is not None and tuple(object.__getattribute__(self, "_app").version[:2]) < since:
            return self.__getattr__(name)
        return object.__getattribute__(self, name)

    def __getattr__(self, name):
        if not name.startswith("_") and name[:1].isupper() and self._app.remote_style:
            return lambda *a, **k: None
        raise AttributeError(name)

    def GetUniqueId(self):
        return self._id


class FakeResolve(_Remote):
    def __init__(self, version=(20, 2, 1, 3, ""), *, remote_style=False,
                 product="DaVinci Resolve Studio", timeline_fps=24, start_frame=86400):
        self.version, self.remote_style, self.product = tuple(version), remote_style, product
        super().__init__(self)
        self.project = FakeProject(self, timeline_fps, start_frame)

    def GetProductName(self):
        return self.product

    def GetVersion(self):
        return list(self.version)

    def GetVersionString(self):
        major, minor, patch, build, suffix = self.version
        return f"{major}.{minor}.{patch}{suffix}.{build}"

    def GetProjectManager(self):
        return FakeProjectManager(self)

    # test helpers
    @property
    def timeline(self):
        return self.project.timeline

    @property
    def media_pool(self):
        return self.project.media_pool


class FakeProjectManager(_Remote):
    def GetCurrentProject(self):
        return _h(self._app.project)


class FakeProject(_Remote):
    def __init__(self, app, fps, start_frame):
        super().__init__(app)
        self.fps = fps
        self.media_pool = FakeMediaPool(app, self)
        self.timeline = FakeTimeline(app, self, "Timeline 1", start_frame)

    def GetName(self):
        return "Project 1"

    def GetMediaPool(self):
        return _h(self.media_pool)

    def GetCurrentTimeline(self):
        return _h(self.timeline)

    def GetSetting(self, name=None):
        settings = {"timelineFrameRate": str(self.fps)}
        return settings if not name else settings.get(name, "")


class FakeFolder(_Remote):
    def __init__(self, app, name, parent=None):
        super().__init__(app)
        self.name, self.parent, self.clips, self.subfolders = name, parent, [], []

    def GetName(self):
        return self.name

    def GetClipList(self):
        return [_h(c) for c in self.clips]

    def GetSubFolderList(self):
        return [_h(f) for f in self.subfolders]

    def GetIsFolderStale(self):
        return False


class FakeMediaPoolItem(_Remote):
    def __init__(self, app, props: dict, frames: int, fps: Fraction):
        super().__init__(app)
        self.props, self.frames, self.fps = dict(props), frames, Fraction(fps)
        self.props.setdefault("Frames", str(frames))
        self.props.setdefault("FPS", float(fps))
        self.markers = {}
        self.timeline = None

    def GetName(self):
        return self.props.get("Clip Name", "")

    def GetMediaId(self):
        return f"media-{self._id}"

    def GetClipProperty(self, name=None):
        return dict(self.props) if not name else self.props.get(name, "")

    def GetMarkers(self):
        return dict(self.markers)

    def GetTimeline(self):
        return _h(self.timeline)


def probe_media(app, path: str) -> FakeMediaPoolItem | None:
    try:
        with av.open(path) as c:
            vs = c.streams.video[0]
            fps = Fraction(vs.average_rate.numerator, vs.average_rate.denominator)
            frames = vs.frames or sum(1 for _ in c.decode(vs))
            size = f"{vs.codec_context.width}x{vs.codec_context.height}"
            kind = "Video + Audio" if c.streams.audio else "Video"
    except (av.error.FFmpegError, OSError, IndexError):
        return None
    return FakeMediaPoolItem(app, {"File Path": path, "Clip Name": os.path.basename(path),
                                   "Type": kind, "Resolution": size}, frames, fps)


class FakeMediaPool(_Remote):
    def __init__(self, app, project):
        super().__init__(app)
        self.project = project
        self.root = FakeFolder(app, "Master")
        self.current = self.root

    def _all_clips(self, folder=None):
        folder = folder or self.root
        yield from folder.clips
        for sub in folder.subfolders:
            yield from self._all_clips(sub)

    def GetRootFolder(self):
        return _h(self.root)

    def GetCurrentFolder(self):
        return _h(self.current)

    def SetCurrentFolder(self, folder):
        folder = _u(folder)
        if not isinstance(folder, FakeFolder):
            return False
        self.current = folder
        return True

    def AddSubFolder(self, folder, name):
        parent = _u(folder)
        if not isinstance(parent, FakeFolder):
            return None
        sub = FakeFolder(self._app, name, parent)
        parent.subfolders.append(sub)
        return _h(sub)

    def ImportMedia(self, items):
        out = []
        known = {c.props.get("File Path") for c in self._all_clips()}
        for entry in items or []:
            clip = None
            if isinstance(entry, dict):
                pattern = entry.get("FilePath", "")
                first, last = int(entry.get("StartIndex", 0)), int(entry.get("EndIndex", -1))
                files = [pattern % i for i in range(first, last + 1)]
                if files and all(os.path.isfile(f) for f in files):
                    folder, name = os.path.split(pattern)
                    stem = name.split("%")[0]
                    shown = os.path.join(folder, f"{stem}[{first:06d}-{last:06d}].tif")
                    if shown not in known:
                        clip = FakeMediaPoolItem(self._app, {"File Path": shown, "Clip Name":
                                                             os.path.basename(shown), "Type": "Video"},
                                                 len(files), Fraction(self.project.fps))
                        clip.sequence = files
            elif os.path.isfile(str(entry)) and str(entry) not in known:
                clip = probe_media(self._app, str(entry))
            if clip is not None:
                self.current.clips.append(clip)
                out.append(_h(clip))
        return out

    def MoveClips(self, clips, folder):
        target = _u(folder)
        for clip in map(_u, clips):
            for f in self._folders():
                if clip in f.clips:
                    f.clips.remove(clip)
            target.clips.append(clip)
        return True

    def _folders(self, folder=None):
        folder = folder or self.root
        yield folder
        for sub in folder.subfolders:
            yield from self._folders(sub)

    def AppendToTimeline(self, clips):
        tl = self.project.timeline
        out = []
        for entry in clips or []:
            if not isinstance(entry, dict):
                entry = {"mediaPoolItem": entry}
            media = _u(entry.get("mediaPoolItem"))
            if not isinstance(media, FakeMediaPoolItem):
                continue
            track = int(entry.get("trackIndex", 1))
            start = int(entry.get("startFrame", 0))
            end = int(entry.get("endFrame", media.frames - 1))
            frames = end - start + (1 if self._app.append_end_inclusive else 0)
            frames = max(0, min(frames, media.frames - start))
            duration = int(round(frames * Fraction(self.project.fps) / media.fps))
            record = int(entry.get("recordFrame", tl.track_end(track)))
            if track < 1 or track > len(tl.tracks) or duration < 1:
                continue
            if track in tl.locked:
                out.append(_Dead())
                continue
            if any(i.start < record + duration and record < i.start + i.duration
                   for i in tl.tracks[track]):
                continue   # silently dropped, like Resolve
            item = tl.add_clip(_h(media), track, record, left=start, duration=duration)
            out.append(_h(item))
        return out


FakeResolve.append_end_inclusive = True
FakeResolve.on_call = None      # tests: called on every API call made through a handle


class FakeTimeline(_Remote):
    SINCE = {"GetSelectedClips": (21, 0), "GetIsTrackLocked": (18, 0), "SetTrackLock": (18, 0)}

    def __init__(self, app, project, name, start_frame):
        super().__init__(app)
        self.project, self.name, self.start = project, name, start_frame
        self.tracks = {1: []}
        self.locked = set()
        self.markers = {}
        self.selection = []
        self.playhead = start_frame

    # test helpers
    def track_end(self, track):
        return max((i.start + i.duration for i in self.tracks.get(track, [])), default=self.start)

    def add_clip(self, media, track, record, *, left=0, duration=None, name=None):
        media = _u(media)
        while len(self.tracks) < track:
            self.tracks[len(self.tracks) + 1] = []
        ratio = Fraction(self.project.fps) / media.fps
        duration = int(round((media.frames - left) * ratio)) if duration is None else duration
        item = FakeTimelineItem(self._app, self, media, track, record, left, duration,
                                name or media.GetName())
        self.tracks[track].append(item)
        return item

    def add_title(self, name, track, record, duration):
        while len(self.tracks) < track:
            self.tracks[len(self.tracks) + 1] = []
        item = FakeTimelineItem(self._app, self, None, track, record, 0, duration, name)
        self.tracks[track].append(item)
        return item

    def select(self, *items):
        self.selection = [_u(i) for i in items]

    def lock(self, track, locked=True):
        (self.locked.add if locked else self.locked.discard)(track)

    def items(self, track):
        return sorted(self.tracks.get(track, []), key=lambda i: i.start)

    # API
    def GetName(self):
        return self.name

    def GetStartFrame(self):
        return self.start

    def GetEndFrame(self):
        return max((self.track_end(t) for t in self.tracks), default=self.start)

    def GetSetting(self, name=None):
        return self.project.GetSetting(name)

    def GetTrackCount(self, kind):
        return len(self.tracks) if kind == "video" else 0

    def AddTrack(self, kind, options=None):
        if kind != "video":
            return False
        self.tracks[len(self.tracks) + 1] = []
        return True

    def GetItemListInTrack(self, kind, index):
        if kind != "video" or index not in self.tracks:
            return None
        return [_h(i) for i in self.items(index)]

    def GetIsTrackLocked(self, kind, index):
        return kind == "video" and index in self.locked

    def SetTrackLock(self, kind, index, locked):
        self.lock(index, locked)
        return True

    def DeleteClips(self, items, ripple=False):
        for item in map(_u, items):
            for track in self.tracks.values():
                if item in track:
                    track.remove(item)
        return True

    def GetMarkers(self):
        return dict(self.markers)

    def AddMarker(self, frame, color, name, note, duration, custom_data=""):
        frame = float(frame)
        if frame in self.markers:
            return False
        self.markers[frame] = {"color": color, "duration": float(duration), "note": note,
                               "name": name, "customData": custom_data}
        return True

    def GetCurrentVideoItem(self):
        for track in sorted(self.tracks, reverse=True):
            for item in self.tracks[track]:
                if item.start <= self.playhead < item.start + item.duration:
                    return _h(item)
        return None

    def GetSelectedClips(self):
        return [_h(i) for i in self.selection]


class FakeTimelineItem(_Remote):
    SINCE = {"GetTrackTypeAndIndex": (19, 0)}

    def __init__(self, app, timeline, media, track, start, left, duration, name):
        super().__init__(app)
        self.timeline, self.media, self.track = timeline, media, track
        self.start, self.left, self.duration, self.name = start, left, duration, name
        self.markers = {}
        self.takes = []          # [{"mediaPoolItem", "startFrame", "endFrame"}] once a selector
        self.selected_take = 0

    def GetName(self):
        return self.name

    def GetStart(self, subframe=False):
        return self.start

    def GetEnd(self, subframe=False):
        return self.start + self.duration

    def GetDuration(self, subframe=False):
        return self.duration

    def GetLeftOffset(self, subframe=False):
        return self.left

    def GetRightOffset(self, subframe=False):
        if self.media is None:
            return 0
        ratio = Fraction(self.timeline.project.fps) / self.media.fps
        return int(round(self.media.frames * ratio)) - self.left - self.duration

    def GetMediaPoolItem(self):
        return _h(self.media)

    def GetTrackTypeAndIndex(self):
        return ["video", self.track]

    def GetFusionCompCount(self):
        return 0

    def GetMarkers(self):
        return dict(self.markers)

    def AddMarker(self, frame, color, name, note, duration, custom_data=""):
        frame = float(frame)
        if frame in self.markers or not 0 <= frame < self.duration:
            return False
        self.markers[frame] = {"color": color, "duration": float(duration), "note": note,
                               "name": name, "customData": custom_data}
        return True

    def AddTake(self, media, start=None, end=None):
        media = _u(media)
        if not isinstance(media, FakeMediaPoolItem) or self.track in self.timeline.locked:
            return False
        if not self.takes:
            self.takes.append({"mediaPoolItem": self.media, "startFrame": self.left,
                               "endFrame": self.left + self.duration - 1})
            self.selected_take = 1
        first = 0 if start is None else int(start)
        last = media.frames - 1 if end is None else int(end)
        self.takes.append({"mediaPoolItem": media, "startFrame": first, "endFrame": last})
        return True

    def GetTakesCount(self):
        return len(self.takes)

    def GetSelectedTakeIndex(self):
        return self.selected_take

    def GetTakeByIndex(self, index):
        if not 1 <= index <= len(self.takes):
            return None
        take = self.takes[index - 1]
        return {**take, "mediaPoolItem": _h(take["mediaPoolItem"])}

    def SelectTakeByIndex(self, index):
        if not 1 <= index <= len(self.takes) or self.track in self.timeline.locked:
            return False
        take = self.takes[index - 1]
        self.selected_take, self.media, self.left = index, take["mediaPoolItem"], take["startFrame"]
        return True

    def DeleteTakeByIndex(self, index):
        if not 1 <= index <= len(self.takes):
            return False
        del self.takes[index - 1]
        if self.selected_take >= index:
            self.SelectTakeByIndex(max(1, self.selected_take - 1)) if self.takes else None
        return True

    def FinalizeTake(self):
        self.takes, self.selected_take = [], 0
        return True
