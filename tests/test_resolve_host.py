"""The Resolve bridge's pieces: choosing items by probing the API, frames from item and timeline
markers, connecting, the placer's checks, and cancelling a running clip."""
from __future__ import annotations

import threading
import time
import types
from fractions import Fraction

import pytest
from fake_resolve import FakeResolve
from frameloom_client import pb
from frameloom_resolve import (
    BridgeError,
    CancelToken,
    ResolveUnavailable,
    host,
    stylize_items,
)
from frameloom_resolve.connect import (
    load_fusionscript,
    resolve_from_globals,
    resolve_from_module,
)
from frameloom_resolve.markers import keyframes_from_markers, marker_settings
from frameloom_resolve.media import PathMap, parse_fps
from resolve_helpers import START, make_clip, scene
from test_service_helpers import RunningServer, wait_until


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("host"), frames=12)


# ---- which items ----------------------------------------------------------------------------


def test_selection_on_21_and_the_playhead_before(clip):
    resolve, item = scene(clip, version=(21, 0, 0, 7, ""))
    second = resolve.timeline.add_clip(item.media, 1, START + 30, duration=4)
    resolve.timeline.select(item, second)
    assert [i.GetStart() for i in host.selected_items(resolve.timeline.GetUniqueId and
                                                      resolve.project.GetCurrentTimeline())] == \
        [START + 10, START + 30]
    resolve.timeline.select()               # nothing selected: the playhead's item
    resolve.timeline.playhead = START + 31
    assert [i.GetStart() for i in host.selected_items(resolve.project.GetCurrentTimeline())] == \
        [START + 30]
    for version, remote_style in (((20, 2, 1, 3, ""), False), ((19, 1, 4, 11, ""), True)):
        old, _ = scene(clip, version=version, remote_style=remote_style)
        timeline = old.project.GetCurrentTimeline()
        with pytest.raises(AttributeError) if not remote_style else _nothing():
            timeline.GetSelectedClips()     # the API really lacks it there
        old.timeline.playhead = START + 12
        assert [i.GetStart() for i in host.selected_items(timeline)] == [START + 10]
        old.timeline.playhead = START
        with pytest.raises(BridgeError, match="put the playhead over a video clip"):
            host.selected_items(timeline)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_handles_are_compared_by_id_not_identity(clip):
    resolve, item = scene(clip)
    timeline = resolve.project.GetCurrentTimeline()
    a, b = timeline.GetItemListInTrack("video", 1)[0], timeline.GetItemListInTrack("video", 1)[0]
    assert a is not b and host.same(a, b)
    resolve.timeline.select(item, item)
    assert len(host.selected_items(timeline)) == 1


def test_track_found_by_enumeration_without_track_type_api(clip):
    resolve, item = scene(clip, version=(18, 6, 6, 7, ""))   # no GetTrackTypeAndIndex
    resolve.timeline.AddTrack("video")
    moved = resolve.timeline.add_clip(item.media, 2, START + 50, duration=3)
    assert host.track_of(resolve.project.GetCurrentTimeline(), moved) == 2


# ---- frames of an item and its markers ------------------------------------------------------


def test_source_range_and_marker_frames_with_a_86400_start(clip):
    resolve, item = scene(clip, left=3, duration=6, record=START + 100)
    item.AddMarker(2.0, "Blue", "prompt: a harbour", "", 1)
    resolve.timeline.AddMarker(104, "Red", "x", "strength: 0.4", 1)      # record START+104
    resolve.timeline.AddMarker(99, "Red", "strength: 0.9", "", 1)        # before the item
    src = host.describe(resolve.project.GetCurrentTimeline(), resolve.timeline.GetItemListInTrack(
        "video", 1)[0], fps=Fraction(24))
    assert (src.source_start, src.source_end, src.source_count) == (3, 8, 6)
    assert [(f, w.split()[0]) for f, _, w in src.markers] == [(5, "marker"), (7, "timeline")]


def test_clip_types(clip):
    resolve, item = scene(clip)
    timeline = resolve.project.GetCurrentTimeline()
    for kind, ok in (("Video + Audio", True), ("Video", True), ("Audio", False), ("Still", False),
                     ("Multicam", False), ("Timeline", False)):
        item.media.props["Type"] = kind
        handle = timeline.GetItemListInTrack("video", 1)[0]
        if ok:
            assert host.describe(timeline, handle, fps=Fraction(24)).source_count == 8
        else:
            with pytest.raises(BridgeError, match="only clips of video files"):
                host.describe(timeline, handle, fps=Fraction(24))


def test_media_at_another_rate_is_converted():
    src = host.ClipSource(item=None, name="x", media_item=None, path="x.mov",
                          media_fps=Fraction(48), timeline_fps=Fraction(24), record_start=0,
                          duration=10, track=1, source_start=0, source_count=0)
    assert src.media_frames(10) == 20 and src.to_source(3) == 6


def test_marker_text_and_custom_data():
    assert marker_settings({"name": "Prompt: a cat: sitting", "note": "strength=0.6; seed: 7"}) == \
        {"prompt": "a cat: sitting", "strength": 0.6, "seed": 7}
    assert marker_settings({"name": "Marker 1", "note": "Note: check focus\nTODO: grade"}) == {}
    assert marker_settings({"name": "x", "customData": '{"negative prompt": "blur", '
                                                      '"param:levels": 6, "controlnet:depth": 0.5}'}) \
        == {"negative_prompt": "blur", "param:levels": 6.0, "controlnet:depth": 0.5}
    with pytest.raises(BridgeError, match="strength must be a number"):
        marker_settings({"name": "strength: lots"}, "marker at A +3")
    with pytest.raises(BridgeError, match=r"strength must be in \[0, 1\]"):
        marker_settings({"name": "strength: 3"})
    kf = keyframes_from_markers([(4, {"name": "strength: 0.5"}, "item"),
                                 (4, {"name": "strength: 0.9"}, "timeline"),
                                 (9, {"name": "prompt: b"}, "item")])
    assert [(k.frame, k.HasField("strength") and round(k.strength, 3), k.prompt) for k in kf] == \
        [(4, 0.5, ""), (9, False, "b")]


def test_frame_rates_and_path_maps():
    assert parse_fps("23.976") == Fraction(24000, 1001) and parse_fps(29.97) == Fraction(30000, 1001)
    assert parse_fps("29.97 DF") == Fraction(30000, 1001) and parse_fps("25") == 25
    assert parse_fps("") is None and parse_fps(None) is None
    m = PathMap.parse("/Volumes/Projects=/mnt/projects, /Volumes/Projects/vfx=/mnt/vfx")
    assert m.to_server("/Volumes/Projects/a/b.mov") == "/mnt/projects/a/b.mov"
    assert m.to_server("/Volumes/Projects/vfx/c.mov") == "/mnt/vfx/c.mov"   # longest prefix
    assert m.to_server("/Volumes/ProjectsX/a.mov") == "/Volumes/ProjectsX/a.mov"
    assert PathMap.parse({"D:\\Shots": "/mnt/shots"}).to_server("D:\\Shots\\a.mov") == "/mnt/shots/a.mov"
    with pytest.raises(BridgeError, match="LOCAL=SERVER"):
        PathMap.parse("/Volumes/Projects")


# ---- connecting -----------------------------------------------------------------------------


def test_connect_messages(tmp_path):
    with pytest.raises(ResolveUnavailable, match="RESOLVE_SCRIPT_LIB"):
        load_fusionscript({"RESOLVE_SCRIPT_LIB": str(tmp_path / "none.so")})
    bogus = tmp_path / "fusionscript.so"
    bogus.write_text("not a library")
    with pytest.raises(ResolveUnavailable, match="cannot load"):
        load_fusionscript({"RESOLVE_SCRIPT_LIB": str(bogus)})
    with pytest.raises(ResolveUnavailable, match="External scripting"):
        resolve_from_module(types.SimpleNamespace(scriptapp=lambda name: None))
    app = FakeResolve()
    assert resolve_from_module(types.SimpleNamespace(scriptapp=lambda name: app)) is app
    assert resolve_from_globals({"app": types.SimpleNamespace(GetResolve=lambda: app)}) is app
    with pytest.raises(ResolveUnavailable, match="Workspace > Scripts"):
        resolve_from_globals({})
    app.project.timeline = None
    with pytest.raises(ResolveUnavailable, match="no current timeline"):
        stylize_items(app, settings={"output_dir": str(tmp_path)})


# ---- the placer -----------------------------------------------------------------------------


def test_an_overlap_that_resolve_drops_silently_is_reported(clip, tmp_path):
    resolve, item = scene(clip)
    timeline = resolve.project.GetCurrentTimeline()
    pool = resolve.project.GetMediaPool()
    src = host.describe(timeline, timeline.GetItemListInTrack("video", 1)[0], fps=Fraction(24))
    placer = host.Placer(timeline, pool)
    placer.free_track_above = lambda src: 1     # as if the scan had missed the item itself
    copy = pool.ImportMedia([make_clip(tmp_path, "copy.mp4")])[0]
    with pytest.raises(BridgeError, match="the range is taken"):
        placer.on_track(src, copy, 8)
    assert len(resolve.timeline.items(1)) == 1


def test_a_result_that_ends_up_too_short_is_taken_back(clip, tmp_path):
    resolve, item = scene(clip)
    timeline = resolve.project.GetCurrentTimeline()
    src = host.describe(timeline, timeline.GetItemListInTrack("video", 1)[0], fps=Fraction(24))
    short = resolve.media_pool.ImportMedia([make_clip(tmp_path, "short.mp4", frames=5)])[0]
    with pytest.raises(BridgeError, match="wrong duration"):
        host.Placer(timeline, resolve.project.GetMediaPool()).on_track(src, short, 8)
    assert resolve.timeline.items(2) == []


# ---- cancelling -----------------------------------------------------------------------------


@pytest.mark.parametrize("transfer", ["headless", "stream"])
def test_cancel_stops_the_server_job_and_places_nothing(tmp_path, transfer):
    root = tmp_path / "media"
    clip = make_clip(root / "shots", frames=12)
    srv = RunningServer(tmp_path / "srv", delay=0.4, media_roots=[root])
    try:
        resolve, item = scene(clip)
        token = CancelToken()
        seen = threading.Event()
        results = []

        def progress(p):
            if p.done >= 1:      # mid-clip: frames are back, more are on their way
                seen.set()

        worker = threading.Thread(target=lambda: results.extend(stylize_items(
            resolve, settings={"server": srv.target, "style": "filter:cartoon", "deflicker": "none",
                               "output_dir": str(root / "out"), "transfer": transfer},
            progress=progress, cancel=token)))
        worker.start()
        assert seen.wait(30)
        started = time.monotonic()
        token.cancel()
        worker.join(30)
        assert not worker.is_alive() and time.monotonic() - started < 10
        [result] = results
        assert result.cancelled and not result.ok and not result.imported
        assert resolve.timeline.items(2) == [] if 2 in resolve.timeline.tracks else True
        with srv.client() as c:
            jobs = wait_until(lambda: [j for j in c.list_jobs()
                                       if j.state in (pb.JOB_STATE_CANCELLED, pb.JOB_STATE_FAILED,
                                                      pb.JOB_STATE_SUCCEEDED)], timeout=10)
            assert [pb.JobState.Name(j.state) for j in jobs] == ["JOB_STATE_CANCELLED"], jobs[0].error
    finally:
        srv.stop()
