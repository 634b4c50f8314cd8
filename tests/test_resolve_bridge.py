"""The Resolve bridge end to end: a fake Resolve (tests/fake_resolve.py) holding a real clip, a real
`frameloom serve` on loopback with a token, and the results compared with `frameloom stylize` of
the same source range."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from frameloom.cli import main as frameloom
from frameloom_client import FrameloomClient
from frameloom_resolve import BridgeError, stylize_items
from resolve_helpers import (
    START,
    TOKEN,
    ServeProcess,
    closed_port,
    make_clip,
    psnr,
    read_tiffs,
    read_video,
    scene,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    return root, make_clip(root / "shots")


@pytest.fixture(scope="module")
def server(tmp_path_factory, media):
    srv = ServeProcess(tmp_path_factory.mktemp("serve"), media[0])
    yield srv
    srv.stop()


def settings(server, out_dir, **more):
    return {"server": server.target, "token_file": str(server.token_file),
            "style": "filter:cartoon", "deflicker": "none", "placement": "track",
            "output_dir": str(out_dir), **more}


def reference(clip, frames: str, out: Path, *extra) -> list[np.ndarray]:
    """What `frameloom stylize` makes of the same source range, as 16-bit TIFFs."""
    assert frameloom(["stylize", clip, "--style", "filter:cartoon", "--no-deflicker", "--frames",
                      frames, "--codec", "tiff", "--bit-depth", "16", "-o", str(out),
                      *extra]) == 0
    return read_tiffs(out)


def placed(resolve, track):
    return [(i.start, i.duration, i.media.GetName()) for i in resolve.timeline.items(track)]


def bin_clips(resolve, name="frameloom"):
    for folder in resolve.media_pool.root.subfolders:
        if folder.name == name:
            return [c.props["File Path"] for c in folder.clips]
    return []


@pytest.mark.parametrize("transfer", ["headless", "stream"])
def test_track_placement_matches_frameloom_stylize(server, media, tmp_path, transfer):
    root, clip = media
    resolve, item = scene(clip)
    out_dir = root / f"out-{transfer}"
    [result] = stylize_items(resolve, settings=settings(server, out_dir, transfer=transfer,
                                                        result_format="tiff"))
    assert result.ok, result.error
    assert result.transfer == transfer and result.job_id
    assert (result.track, result.record_frame, result.duration) == (2, START + 10, 8)
    # Enumerated from the timeline, not taken from the result: V2, same record frame, 8 frames.
    assert placed(resolve, 2) == [(START + 10, 8, "frame_[000002-000009].tif")]
    assert placed(resolve, 1)[0][:2] == (START + 10, 8)
    assert result.source_range == (2, 9)
    # The media went into the frameloom bin, and the pool's current folder is back where it was.
    assert bin_clips(resolve) and resolve.media_pool.current is resolve.media_pool.root
    got = read_tiffs(result.media)
    want = reference(clip, "2-9", tmp_path / "ref")
    assert len(got) == len(want) == 8
    for g, w in zip(got, want):
        assert g.dtype == np.uint16
        np.testing.assert_array_equal(g, w)


def test_prores_result_and_first_free_track_above(server, media, tmp_path):
    root, clip = media
    resolve, item = scene(clip)
    other = resolve.media_pool.ImportMedia([make_clip(root / "shots", "other.mp4")])[0]
    resolve.timeline.add_clip(other, 2, START + 14, duration=4)      # overlaps the item on V2
    resolve.timeline.add_clip(other, 3, START + 30, duration=4)      # V3 is free over the item
    [result] = stylize_items(resolve, settings=settings(server, root / "out-prores"))
    assert result.ok, result.error
    assert result.track == 3 and result.media.endswith(".mov")
    assert placed(resolve, 3)[0] == (START + 10, 8, os.path.basename(result.media))
    frames, info = read_video(result.media)
    assert info["codec"] == "prores" and info["tag"] == "apch" and info["fps"] == 24   # 422 HQ
    # Byte-for-byte what `frameloom stylize -o x.mov` encodes; near the lossless frames.
    assert frameloom(["stylize", clip, "--style", "filter:cartoon", "--no-deflicker", "--frames",
                      "2-9", "--no-audio", "-o", str(tmp_path / "ref.mov")]) == 0
    want, _ = read_video(tmp_path / "ref.mov")
    assert len(frames) == len(want) == 8
    for f, w in zip(frames, want):
        np.testing.assert_array_equal(f, w)
    lossless = reference(clip, "2-9", tmp_path / "ref")
    assert min(psnr(f, w, 65535) for f, w in zip(frames, lossless)) > 30


def test_take_placement(server, media):
    root, clip = media
    resolve, item = scene(clip)
    [result] = stylize_items(resolve, settings=settings(server, root / "out-take",
                                                        placement="take"))
    assert result.ok, result.error
    assert result.placement == "take" and result.take_index == 2
    assert item.GetTakesCount() == 2 and item.GetSelectedTakeIndex() == 2
    assert item.media.props["File Path"] == result.media            # the new take shows
    assert item.takes[0]["mediaPoolItem"].props["File Path"] == clip  # the original is take 1
    assert (item.start, item.duration) == (START + 10, 8)
    assert len(resolve.timeline.tracks) == 1                          # no new track


def test_marker_keyframes_arrive_in_source_frames(server, media, tmp_path):
    root, clip = media
    resolve, item = scene(clip)
    item.AddMarker(1, "Blue", "param:levels: 4", "", 1)                 # item frame 1 -> source 3
    resolve.timeline.AddMarker(16, "Red", "Marker 2", "param:levels = 16", 1)  # 86416 -> source 8
    resolve.timeline.AddMarker(2, "Red", "param:levels: 30", "", 1)     # before the item: ignored
    item.AddMarker(5, "Green", "Marker 1", "check focus", 1)            # not a keyframe
    [result] = stylize_items(resolve, settings=settings(server, root / "out-markers",
                                                        result_format="tiff"))
    assert result.ok, result.error
    assert result.keyframes == 2
    with FrameloomClient(server.target, token=TOKEN) as c:
        job = c.get_job(result.job_id)
    assert [(k.frame, dict(k.params)) for k in job.spec.keyframes] == \
        [(3, {"levels": 4.0}), (8, {"levels": 16.0})]
    keyframes = tmp_path / "kf.toml"
    keyframes.write_text("[[keyframes]]\nframe = 3\n[keyframes.params]\nlevels = 4\n"
                         "[[keyframes]]\nframe = 8\n[keyframes.params]\nlevels = 16\n")
    want = reference(clip, "2-9", tmp_path / "ref", "--keyframes", str(keyframes))
    plain = reference(clip, "2-9", tmp_path / "plain")
    got = read_tiffs(result.media)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert any(not np.array_equal(g, p) for g, p in zip(got, plain))   # the keyframes did act


def test_mixed_items_each_get_their_result(server, media):
    root, clip = media
    resolve, item = scene(clip)
    title = resolve.timeline.add_title("Title 1", 1, START + 40, 10)
    resolve.timeline.select(item, title)
    results = stylize_items(resolve, settings=settings(server, root / "out-mixed"))
    assert [r.item for r in results] == ["shot.mp4", "Title 1"]
    assert results[0].ok and not results[1].ok
    assert "has no media" in results[1].error and "titles" in results[1].error
    assert len(placed(resolve, 2)) == 1


# ---- failures: a clear message, nothing half-placed -----------------------------------------


def test_locked_track_without_lock_query_reports_it_and_keeps_the_media(server, media):
    root, clip = media
    resolve, item = scene(clip, version=(17, 4, 6, 4, ""))    # no GetIsTrackLocked before 18
    resolve.timeline.AddTrack("video")
    resolve.timeline.lock(2)
    resolve.timeline.playhead = START + 12                    # 17: no selection API
    [result] = stylize_items(resolve, settings=settings(server, root / "out-locked"))
    assert not result.ok and "locked" in result.error and "frameloom bin" in result.error
    assert result.imported and bin_clips(resolve)              # the media stays in the bin
    assert placed(resolve, 2) == [] and len(resolve.timeline.tracks) == 2


def test_locked_track_is_skipped_when_resolve_says_so(server, media):
    root, clip = media
    resolve, item = scene(clip)
    resolve.timeline.AddTrack("video")
    resolve.timeline.lock(2)
    [result] = stylize_items(resolve, settings=settings(server, root / "out-skip"))
    assert result.ok and result.track == 3 and placed(resolve, 2) == []


def test_take_on_a_locked_track(server, media):
    root, clip = media
    resolve, item = scene(clip)
    resolve.timeline.lock(1)
    [result] = stylize_items(resolve, settings=settings(server, root / "out-take-locked",
                                                        placement="take"))
    assert not result.ok and "refused to add a take" in result.error and "locked" in result.error
    assert item.GetTakesCount() == 0 and item.media.props["File Path"] == clip


@pytest.mark.parametrize("inclusive", [True, False])
def test_either_reading_of_end_frame_places_the_right_length(server, media, inclusive):
    root, clip = media
    resolve, item = scene(clip)
    resolve.append_end_inclusive = inclusive
    [result] = stylize_items(resolve, settings=settings(server, root / f"out-end-{inclusive}"))
    assert result.ok, result.error
    assert [(s, d) for s, d, _ in placed(resolve, 2)] == [(START + 10, 8)]


def test_server_down(media, tmp_path):
    root, clip = media
    resolve, item = scene(clip)
    [result] = stylize_items(resolve, settings={"server": closed_port(), "style": "filter:cartoon",
                                                "placement": "track", "output_dir": str(tmp_path),
                                                "connect_timeout": 1})
    assert not result.ok and "server unavailable" in result.error and "frameloom serve" in result.error
    assert not bin_clips(resolve) and len(resolve.timeline.tracks) == 1


def test_wrong_token(server, media, tmp_path):
    root, clip = media
    resolve, item = scene(clip)
    [result] = stylize_items(resolve, settings={**settings(server, tmp_path), "token_file": None,
                                                "token": "nope"})
    assert not result.ok and "refused the token" in result.error and "wrong bearer token" in result.error
    assert not bin_clips(resolve) and len(resolve.timeline.tracks) == 1


@pytest.mark.parametrize("kind,message", [("Compound", "compound clip"), ("Fusion Clip", "Fusion clip"),
                                          ("Generator", "generator")])
def test_unsupported_items(server, media, kind, message):
    root, clip = media
    resolve, item = scene(clip)
    item.media.props["Type"] = kind
    [result] = stylize_items(resolve, settings=settings(server, root / "out-unsupported"))
    assert not result.ok and message in result.error
    assert len(resolve.timeline.tracks) == 1 and not bin_clips(resolve)


def test_missing_media(server, media, tmp_path):
    root, clip = media
    gone = make_clip(tmp_path, "gone.mp4")
    resolve, item = scene(gone)
    os.remove(gone)
    [result] = stylize_items(resolve, settings=settings(server, root / "out-missing"))
    assert not result.ok and "media file not found" in result.error and gone in result.error


def test_headless_that_the_server_cannot_see(server, media, tmp_path):
    root, clip = media
    outside = make_clip(tmp_path, "outside.mp4")
    resolve, item = scene(outside)
    [result] = stylize_items(resolve, settings=settings(server, root / "out-outside",
                                                        transfer="headless"))
    assert not result.ok and "cannot see the clip's media" in result.error and "path_map" in result.error
    # auto streams it instead, from this side.
    [result] = stylize_items(resolve, settings=settings(server, root / "out-outside"))
    assert result.ok and result.transfer == "stream"


def test_path_map_reaches_the_server_view(server, media, tmp_path):
    root, clip = media
    alias = tmp_path / "Volumes" / "Projects"
    alias.parent.mkdir(parents=True)
    alias.symlink_to(root)                       # this machine mounts the media elsewhere
    local_clip = str(alias / "shots" / os.path.basename(clip))
    resolve, item = scene(local_clip)
    [result] = stylize_items(resolve, settings=settings(server, alias / "out-mapped",
                                                        path_map=f"{alias}={root}"))
    assert result.ok and result.transfer == "headless"
    with FrameloomClient(server.target, token=TOKEN) as c:
        assert c.get_job(result.job_id).spec.input == str(Path(root) / "shots" / "shot.mp4")


def test_bad_settings_fail_before_any_work(media, tmp_path):
    root, clip = media
    resolve, item = scene(clip)
    base = {"server": closed_port(), "output_dir": str(tmp_path)}
    for bad, message in [({"placment": "track"}, "unknown setting placment"),
                         ({"placement": "replace"}, "placement must be one of"),
                         ({"output_dir": ""}, "output_dir is required"),
                         ({"style": "diffusion", "model": "builtin:tiny", "strength": 2},
                          "strength must be in [0, 1]"),
                         ({"frames": "0-3"}, "comes from the timeline item")]:
        with pytest.raises(BridgeError) as info:
            stylize_items(resolve, settings={**base, **bad})
        assert message in str(info.value)
