"""The bridge against a real DaVinci Resolve Studio (external scripting set to Local).

Collected only when RESOLVE_SCRIPT_API is set (see conftest.py). Each test works in a project of
its own, made here and deleted afterwards, on a real clip and a real `frameloom serve`.
"""
from __future__ import annotations

import uuid

import pytest
from frameloom_resolve import connect, host, stylize_items
from resolve_helpers import ServeProcess, make_clip


@pytest.fixture(scope="module")
def resolve():
    return connect()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    srv = ServeProcess(root, root)
    srv.root = root
    yield srv
    srv.stop()


@pytest.fixture
def timeline(resolve, server):
    manager = resolve.GetProjectManager()
    name = f"frameloom-live-{uuid.uuid4().hex[:8]}"
    project = manager.CreateProject(name)
    assert project, "Resolve did not create a project (is one with that name open?)"
    clip = make_clip(server.root / "shots", f"{name}.mp4", frames=24)
    pool = project.GetMediaPool()
    [media] = pool.ImportMedia([clip])
    tl = pool.CreateTimelineFromClips("live", [{"mediaPoolItem": media, "startFrame": 4,
                                                "endFrame": 15}])
    assert tl and project.SetCurrentTimeline(tl)
    yield project, tl, server
    manager.CloseProject(project)
    manager.DeleteProject(name)


def _settings(server, **more):
    return {"server": server.target, "token_file": str(server.token_file),
            "style": "filter:cartoon", "deflicker": "none",
            "output_dir": str(server.root / "out"), **more}


@pytest.mark.parametrize("placement", ["track", "take"])
def test_placement_in_real_resolve(timeline, placement):
    project, tl, server = timeline
    [item] = tl.GetItemListInTrack("video", 1)
    start, duration = item.GetStart(), item.GetDuration()
    [result] = stylize_items(None, [item], _settings(server, placement=placement))
    assert result.ok, result.error
    if placement == "track":
        [placed] = tl.GetItemListInTrack("video", result.track)
        assert (placed.GetStart(), placed.GetDuration()) == (start, duration)
    else:
        assert item.GetTakesCount() >= 2 and item.GetSelectedTakeIndex() == result.take_index


def test_locked_track_in_real_resolve(timeline):
    project, tl, server = timeline
    tl.AddTrack("video")
    tl.SetTrackLock("video", 2, True)
    [item] = tl.GetItemListInTrack("video", 1)
    [result] = stylize_items(None, [item], _settings(server))
    assert result.ok and result.track == 3            # skipped, since Resolve says it is locked
    assert not tl.GetItemListInTrack("video", 2)


def test_selection_api_is_probed(resolve, timeline):
    project, tl, server = timeline
    tl.SetCurrentTimecode(tl.GetStartTimecode())
    items = host.selected_items(tl)
    assert items and host.alive(items[0])
