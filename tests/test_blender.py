"""The Blender add-on inside real Blender (3.4.1 and 5.0.1), headless, against a real server.

Each test runs one Blender session (tests/blender/session.py) that installs the zip the way a
user does, puts a real H.264 movie strip on the timeline trimmed at both ends (source frames 2-10
of 12, timeline frames 12-20, a colour strip right above it), and drives the add-on's public
scripting surface. What Blender made is then checked against `frameloom stylize` of the same
frames and against what the server received.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from blenderhosts import CACHE, HOSTS, ServeProcess
from frameloom.cli import main as frameloom_main
from frameloom_client import decode_png, pb
from mediafiles import photo_frames, write_clip
from test_service_helpers import wait_until

FIRST, LAST = 2, 10                 # the shot's visible source frames
TIMELINE_START = 12                 # frame_start 10 + 2 frames trimmed


@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    out = tmp_path_factory.mktemp("zips")
    assert frameloom_main(["blender", "build", "-o", str(out), "--platform", "linux-x64",
                           "--python", "3.11", "--cache", CACHE]) == 0
    return {"legacy": out / "frameloom_blender_legacy.zip",
            "extension": out / "frameloom-0.2.0-linux-x64-cp311.zip", "dir": out}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServeProcess(tmp_path_factory.mktemp("serve"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("media") / "shot.mp4", photo_frames((160, 96), 12))


@pytest.fixture(params=HOSTS, ids=lambda h: f"blender-{h.name}")
def host(request):
    request.param.skip_unless_available()
    return request.param


def session(host, zips, movie, tmp_path, server_target, steps, hard_trim=0, **extra) -> dict:
    cfg = {"install": host.install, "zip": host.zip_for(zips),
           "scene": {"movie": movie, "channel": 2, "frame_start": 10, "trim_start": 2,
                     "trim_end": 1, "blocker": True, "blend": str(tmp_path / "edit.blend"),
                     "view_transform": "Filmic" if host.name == "3.4" else "AgX",
                     "hard_trim": hard_trim},
           "settings": {"server": server_target, **extra.pop("settings", {})},
           "steps": steps, **extra}
    return host.run(tmp_path / "session", cfg)


def read_folder(folder) -> list[np.ndarray]:
    return [decode_png(p.read_bytes()) for p in sorted(Path(folder).glob("*.png"))]


def result_strips(strips) -> list[dict]:
    return [s for s in strips if s["source"] == "shot"]


def assert_close(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        assert np.abs(g.astype(int) - w.astype(int)).max() <= 1


SETTINGS = {"style": "filter:cartoon", "temporal_mode": "window", "window": 1}


def test_stylized_strip_placed_and_matches_frameloom_stylize(host, zips, movie, server, tmp_path):
    src = tmp_path / "source-frames"
    out = session(host, zips, movie, tmp_path, server.target, params={"levels": 6},
                  settings=SETTINGS,
                  steps=[{"op": "stylize"}, {"op": "stylize"}, {"op": "set", "key": "window",
                                                                "value": 2},
                         {"op": "stylize"}, {"op": "render_source", "folder": str(src)}])
    first, again, _, changed, _ = out["steps"]
    assert [r["error"] for r in first["results"]] == [None]
    made = result_strips(first["strips"])
    assert len(made) == 1
    strip = made[0]
    # Channel 3 holds a colour strip over part of the shot: the first free channel is 4.
    assert (strip["type"], strip["channel"], strip["start"], strip["length"]) == \
        ("IMAGE", 4, TIMELINE_START, LAST - FIRST + 1)
    assert strip["files"] == [f"frame_{i:06d}.png" for i in range(FIRST, LAST + 1)]
    assert Path(strip["directory"]).parent.name == "frameloom"       # //frameloom beside the .blend
    assert not strip["select"] and [s["select"] for s in first["strips"] if s["name"] == "shot"] == [True]

    # The same settings again: the server's cache answers and the earlier strip is replaced.
    assert again["results"][0]["cached"] and again["results"][0]["error"] is None
    assert result_strips(again["strips"]) == made
    # Changed settings: a new result beside the first.
    assert changed["results"][0]["error"] is None and not changed["results"][0]["cached"]
    after = result_strips(changed["strips"])
    assert len(after) == 2 and {s["channel"] for s in after} == {4, 5}
    assert len({s["spec"] for s in after}) == 2

    got = read_folder(strip["directory"])
    # The source of truth is Blender's own picture of the strip (its sequencer render, Standard
    # view): `frameloom stylize` of exactly those frames must give the same pixels, whatever the
    # scene's view transform (Filmic/AgX here) is.
    frames = sorted(src.glob("*.png"))
    assert len(frames) == LAST - FIRST + 1
    ref = tmp_path / "ref"
    assert frameloom_main(["stylize", str(src), "--style", "filter:cartoon", "--param", "levels=6",
                           "--window", "1", "-o", str(ref)]) == 0
    assert_close(got, read_folder(ref))
    if host.name == "3.4":
        # 3.4.1's decode equals PyAV's, so it also equals stylizing the movie file itself.
        ref_movie = tmp_path / "ref-movie"
        assert frameloom_main(["stylize", movie, "--frames", f"{FIRST}-{LAST}", "--style",
                               "filter:cartoon", "--param", "levels=6", "--window", "1", "-o",
                               str(ref_movie)]) == 0
        assert_close(got, read_folder(ref_movie))


def test_hard_trim_counts_in_source_indices(host, zips, movie, server, tmp_path):
    # 3 frames cut from the content, then 2 by the left handle: the strip shows source 5-10.
    src = tmp_path / "source-frames"
    out = session(host, zips, movie, tmp_path, server.target, hard_trim=3,
                  settings={"style": "filter:pencil", "temporal_mode": "none"},
                  steps=[{"op": "stylize"}, {"op": "render_source", "folder": str(src)}])
    [strip] = result_strips(out["steps"][0]["strips"])
    assert strip["files"] == [f"frame_{i:06d}.png" for i in range(5, 11)]
    assert (strip["start"], strip["length"]) == (12, 6)
    ref = tmp_path / "ref"
    if host.name == "3.4":      # Blender's decode is PyAV's here: the file's own frames 5-10
        args = [movie, "--frames", "5-10"]
    else:
        args = [str(src)]
    assert frameloom_main(["stylize", *args, "--style", "filter:pencil", "--no-deflicker",
                           "-o", str(ref)]) == 0
    assert_close(read_folder(strip["directory"]), read_folder(ref))


def test_keyframed_settings_arrive_as_per_frame_keyframes(host, zips, movie, server, tmp_path):
    # strength: linear keys at timeline 13 (0.3) and 17 (0.8); guidance: Bezier keys 12 -> 20.
    keys = {"strength": [[13, 0.3, "LINEAR"], [17, 0.8, "LINEAR"]],
            "guidance": [[12, 2.0, "BEZIER"], [20, 9.0, "BEZIER"]]}
    out = session(host, zips, movie, tmp_path, server.target, keys=keys,
                  prompts=[[15, "a second prompt"]], markers=[[18, "prompt: a third"]],
                  settings={"style": "diffusion", "model": "builtin:tiny", "prompt": "a test",
                            "steps": 2, "temporal_mode": "none"},
                  steps=[{"op": "stylize"}])
    result = out["steps"][0]["results"][0]
    assert result["error"] is None, result
    with server.client() as client:
        job = client.get_job(result["job_id"])
    assert job.state == pb.JOB_STATE_SUCCEEDED
    kf = list(job.spec.keyframes)
    strength = [(k.frame, round(k.strength, 5)) for k in kf if k.HasField("strength")]
    # Source index = timeline frame - 10. Held before 13 and after 17: the range's ends, the two
    # keys, nothing between (linear interpolation gives those back).
    assert strength == [(2, 0.3), (3, 0.3), (7, 0.8), (10, 0.8)]
    guidance = {k.frame: k.guidance for k in kf if k.HasField("guidance")}
    frames = sorted(guidance)
    assert frames[0] == FIRST and frames[-1] == LAST
    # Prompts: the panel's list (timeline 15) and a `prompt: ...` marker (timeline 18).
    prompts = [(k.frame, k.prompt) for k in kf if k.HasField("prompt")]
    assert prompts == [(2, "a test"), (5, "a second prompt"), (8, "a third")]
    curve = out["fcurves"]["frameloom.guidance"]          # Blender's F-curve at timeline 0..39
    scheduled = np.interp(range(FIRST, LAST + 1), frames, [guidance[f] for f in frames])
    np.testing.assert_allclose(scheduled, [curve[f + 10] for f in range(FIRST, LAST + 1)],
                               atol=1e-4)


def test_cancel_mid_job_leaves_nothing(host, zips, tmp_path, server):
    long_movie = write_clip(tmp_path / "long.mp4", photo_frames((160, 96), 40, photo="coffee"))
    out = session(host, zips, long_movie, tmp_path, server.target,
                  settings={"style": "filter:oil", "temporal_mode": "window", "window": 3},
                  steps=[{"op": "cancel", "after": 1}])
    step = out["steps"][0]
    assert step["cancelled_at"] is not None and step["cancelled_at"] < 37
    [result] = step["results"]
    assert result["error"] == "cancelled" and result["strip"] is None
    assert result_strips(step["strips"]) == [] and len(step["strips"]) == 2
    assert step["leftovers"] == []                                  # no half-written folder
    with server.client() as client:
        job = wait_until(lambda: (j := client.get_job(result["job_id"])).state
                         in (pb.JOB_STATE_CANCELLED, pb.JOB_STATE_SUCCEEDED) and j, timeout=30)
    assert job.state == pb.JOB_STATE_CANCELLED


def test_errors_are_one_line_and_add_nothing(host, zips, movie, server, tmp_path):
    stopped = ServeProcess(tmp_path / "stopped")
    target = stopped.target
    stopped.stop()
    guarded = ServeProcess(tmp_path / "guarded", token="s3cret")
    wrong = tmp_path / "wrong-token"
    wrong.write_text("guess\n")
    steps = [
        {"op": "stylize"},
        {"op": "set", "key": "server", "value": server.target}, {"op": "offer"},
        {"op": "select", "names": ["blocker"]}, {"op": "stylize"},
        {"op": "add_missing", "path": str(tmp_path / "moved.mp4")}, {"op": "stylize"},
        {"op": "select", "names": ["shot"]}, {"op": "set", "key": "style", "value": "filter:nope"},
        {"op": "stylize"},
        {"op": "set", "key": "style", "value": "diffusion"},
        {"op": "set", "key": "model", "value": "no/such/model.safetensors"}, {"op": "stylize"},
        {"op": "set", "key": "style", "value": "filter:cartoon"},
        {"op": "set", "key": "server", "value": guarded.target}, {"op": "stylize"},
        {"op": "set", "key": "token_file", "value": str(wrong)}, {"op": "stylize"},
        {"op": "set", "key": "token_file", "value": str(tmp_path / "absent")}, {"op": "stylize"}]
    try:
        out = session(host, zips, movie, tmp_path, target, settings=SETTINGS, steps=steps)
    finally:
        guarded.stop()
    errors = [s["results"][0]["error"] for s in out["steps"] if s["op"] == "stylize"]
    assert errors[0] == (f"cannot reach the frameloom server at {target} (is `frameloom serve` "
                         "running there?)")
    assert errors[1] == "blocker is a color strip; frameloom stylizes movie and image strips"
    assert errors[2] == f"gone: media file not found: {tmp_path / 'moved.mp4'}"
    assert errors[3].startswith("the server offers no style 'filter:nope'; it offers ")
    assert "no/such/model.safetensors" in errors[4]          # the server's own refusal
    assert errors[5].startswith(f"the frameloom server at {guarded.target} refused the token")
    assert errors[6].startswith(f"the frameloom server at {guarded.target} refused the token")
    assert errors[7].startswith(f"cannot read the token file {tmp_path / 'absent'}")
    assert all(e and "\n" not in e and "Traceback" not in e for e in errors)
    # Connect reads the offer from the server's capabilities; the style's parameters come with
    # their defaults and ranges (filter:cartoon: smooth 0-12, levels 2-32, edge 0-20).
    offer = next(s for s in out["steps"] if s["op"] == "offer")
    assert offer["refresh"] == offer["style_params"] == ["FINISHED"]
    assert "filter:cartoon" in offer["offer"]["styles"] and "diffusion" in offer["offer"]["styles"]
    assert offer["params"] == [["smooth", 5.0], ["levels", 8.0], ["edge", 4.0]]
    assert offer["offer"]["params"] == [["filter:cartoon", "smooth", 0.0, 12.0],
                                        ["filter:cartoon", "levels", 2.0, 32.0],
                                        ["filter:cartoon", "edge", 0.0, 20.0]]
    for step in out["steps"]:
        assert result_strips(step["strips"]) == []           # nothing half-added, ever
    assert not (tmp_path / "frameloom").exists() or not any((tmp_path / "frameloom").iterdir())


def test_image_sequence_strips_8_and_16_bit(host, zips, movie, server, tmp_path):
    from frameloom_client import encode_png

    photos = photo_frames((160, 96), 6, photo="chelsea")
    seq8, seq16 = tmp_path / "seq8", tmp_path / "seq16"
    seq8.mkdir()
    seq16.mkdir()
    ramp = np.linspace(0, 200, 160, dtype=np.uint16)[None, :, None]   # below-8-bit detail
    for i, f in enumerate(photos):
        (seq8 / f"img_{i:04d}.png").write_bytes(encode_png(f))
        (seq16 / f"img_{i:04d}.png").write_bytes(encode_png(f.astype(np.uint16) * 257 + ramp))
    rendered16 = tmp_path / "rendered16"
    out = session(host, zips, movie, tmp_path, server.target, settings=SETTINGS, steps=[
        {"op": "add_images", "name": "seq8", "folder": str(seq8), "channel": 6,
         "frame_start": 40, "trim_start": 1},
        {"op": "add_images", "name": "seq16", "folder": str(seq16), "channel": 8,
         "frame_start": 40},
        {"op": "select", "names": ["seq8", "seq16"]}, {"op": "stylize"},
        {"op": "render_source", "strip": "seq16", "depth": "16", "folder": str(rendered16)}])
    step = out["steps"][3]
    results = {r["source"]: r for r in step["results"]}
    assert set(results) == {"seq8", "seq16"} and all(r["error"] is None for r in results.values())
    made = {s["source"]: s for s in step["strips"] if s["source"]}
    assert (made["seq8"]["channel"], made["seq8"]["start"], made["seq8"]["length"]) == (7, 41, 5)
    assert made["seq8"]["files"] == [f"frame_{i:06d}.png" for i in range(1, 6)]
    assert (made["seq16"]["channel"], made["seq16"]["start"], made["seq16"]["length"]) == (9, 40, 6)

    # 8-bit PNGs: Blender's picture of them is the files' pixels, so the result equals
    # `frameloom stylize` of the files themselves.
    ref8 = tmp_path / "ref8"
    assert frameloom_main(["stylize", str(seq8), "--frames", "1-5", "--style", "filter:cartoon",
                           "--window", "1", "-o", str(ref8)]) == 0
    assert_close(read_folder(made["seq8"]["directory"]), read_folder(ref8))
    # 16-bit sources give 16-bit results, equal to stylizing the frames Blender showed.
    got16 = read_folder(made["seq16"]["directory"])
    assert got16[0].dtype == np.uint16
    ref16 = tmp_path / "ref16"
    assert frameloom_main(["stylize", str(rendered16), "--style", "filter:cartoon", "--window",
                           "1", "--bit-depth", "16", "-o", str(ref16)]) == 0
    want16 = read_folder(ref16)
    assert len(got16) == len(want16) == 6
    for g, w in zip(got16, want16):
        assert np.abs(g.astype(int) - w.astype(int)).max() <= 257      # one 8-bit code


@pytest.mark.parametrize("cancel", [False, True], ids=["finish", "cancel"])
def test_modal_operator_in_a_real_window(zips, server, tmp_path, cancel):
    """Blender 3.4.1 with a window (Xvfb): the panel's operator runs modal, the UI keeps ticking
    while the server works, and Cancel stops it with nothing left behind."""
    import json
    import os
    import shutil
    import subprocess

    if not (shutil.which("blender") and shutil.which("xvfb-run")):
        pytest.skip("needs Debian's blender and xvfb-run (bridge/blender/install-test-hosts.sh)")
    clip = write_clip(tmp_path / "clip.mp4", photo_frames((160, 96), 40 if cancel else 12,
                                                          photo="chelsea"))
    cfg = tmp_path / "gui.json"
    cfg.write_text(json.dumps({"zip": str(zips["legacy"]), "movie": clip, "server": server.target,
                               "style": "filter:oil", "window": 3, "cancel": cancel,
                               "blend": str(tmp_path / "gui.blend")}))
    script = Path(__file__).parent / "blender" / "gui_session.py"
    env = {**os.environ, "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts"),
           "BLENDER_USER_CONFIG": str(tmp_path / "config")}
    done = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", "blender",
                           "--factory-startup", "--python", str(script), "--", str(cfg)],
                          capture_output=True, text=True, env=env, timeout=300)
    line = next((t for t in done.stdout.splitlines() if t.startswith("GUI_RESULT ")), None)
    assert line, done.stdout[-3000:] + done.stderr[-3000:]
    log = json.loads(line[len("GUI_RESULT "):])
    assert log["invoke"] == ["RUNNING_MODAL"]
    running = [t for t in log["ticks"] if t[1]]
    # The UI thread kept running while frames were on their way: many ticks saw it running,
    # with progress between none and all.
    assert len(running) >= 5 and any(0 < t[2] < 1 for t in running)
    results = [s for s in log["strips"] if s[0] != "shot"]
    if cancel:
        assert log["cancel_at"] is not None and log["status"] == "shot: cancelled"
        assert results == []
        assert not any(p.name.endswith(".partial") for p in (tmp_path / "frameloom").glob("*"))
    else:
        assert log["status"] == "shot: shot.frameloom"
        assert results == [["shot.frameloom", 3, 12, 9]]


def test_zips_validate_and_carry_their_wheels(zips):
    ext, legacy = zipfile.ZipFile(zips["extension"]), zipfile.ZipFile(zips["legacy"])
    import tomllib

    manifest = tomllib.loads(ext.read("blender_manifest.toml").decode())
    assert manifest["id"] == "frameloom" and manifest["type"] == "add-on"
    assert "network" in manifest["permissions"]
    assert manifest["platforms"] == ["linux-x64"]
    assert (manifest["blender_version_min"], manifest["blender_version_max"]) == ("4.2.0", "5.1.0")
    names = set(ext.namelist())
    wheels = [w.removeprefix("./") for w in manifest["wheels"]]
    assert all(w in names for w in wheels)
    tags = {Path(w).name.split("-")[0]: Path(w).name for w in wheels}
    assert set(tags) == {"grpcio", "protobuf", "typing_extensions", "frameloom_client"}
    assert "-cp311-cp311-manylinux" in tags["grpcio"] and "abi3-manylinux" in tags["protobuf"]
    assert "__init__.py" in names and not any(n.startswith("_vendor") for n in names)
    lnames = set(legacy.namelist())
    assert "frameloom_blender/__init__.py" in lnames and "blender_manifest.toml" not in \
        {Path(n).name for n in lnames}
    for module in ("grpc/__init__.py", "google/protobuf/__init__.py", "typing_extensions.py",
                   "frameloom_client/__init__.py"):
        assert f"frameloom_blender/_vendor/cp311-linux-x64/{module}" in lnames
    assert "frameloom_blender/_vendor/cp311-linux-x64-numpy/numpy/__init__.py" in lnames
    # Blender's own validator (it ships in the bpy module): stricter than its installer.
    from blenderhosts import BPY_PYTHON
    import subprocess

    if not Path(BPY_PYTHON).is_file():
        pytest.skip("bpy 5.0.1 venv not installed: no blender_ext.py to validate with")
    purelib = subprocess.run([BPY_PYTHON, "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True).stdout
    [ext_py] = Path(purelib.strip()).glob("bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py")
    done = subprocess.run([BPY_PYTHON, str(ext_py), "validate", str(zips["extension"])],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_frameloom_blender_install_enables_the_addon(host, tmp_path):
    import os
    import subprocess
    import sys

    from blenderhosts import BPY_PYTHON

    blender = "blender" if host.name == "3.4" else BPY_PYTHON
    env = {**os.environ, "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts"),
           "BLENDER_USER_CONFIG": str(tmp_path / "config"),
           "BLENDER_USER_EXTENSIONS": str(tmp_path / "extensions")}
    done = subprocess.run([sys.executable, "-m", "frameloom.cli", "blender", "install",
                           "--blender", blender, "--cache", CACHE], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "installed" in done.stderr
    # The bpy module starts on factory preferences; Blender itself loads the saved ones.
    check = ("import bpy; bpy.app.background and bpy.ops.wm.read_userpref(); print('ENABLED', "
             "sorted(a for a in bpy.context.preferences.addons.keys() if 'frameloom' in a))")
    cmd = (["blender", "-b", "--python-expr", check] if host.name == "3.4"
           else [BPY_PYTHON, "-c", check])
    seen = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120).stdout
    line = next(t for t in seen.splitlines() if t.startswith("ENABLED"))
    assert ("frameloom_blender" if host.name == "3.4" else "bl_ext.user_default.frameloom") in line
