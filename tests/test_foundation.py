"""What every bridge stands on: the torch-free client installs alone, one path rule, deflicker
as a job (headless, streamed and the CLI agree), and the layering rules of the house."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import numpy as np
import pytest

from frameloom.cli import main
from frameloom_client import pb
from frameloom_client.jobspec import (build_spec, keyframes_from_tracks, load_spec, save_spec,
                                      spec_hash)
from synthclips import flicker, make_clip, stylize_clip
from test_service_headless import read_sequence, write_sequence
from test_service_helpers import RunningServer

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "server" / "frameloom"


# ---- the client distribution ----------------------------------------------------------------

@pytest.mark.slow
def test_client_wheel_installs_and_submits_without_torch(tmp_path):
    """`pip install` of the client wheel in a fresh venv (no torch, no engine), then build,
    validate and submit a keyframed job to a real server, from that interpreter."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT / "bridge" / "client")], check=True)
    (wheel,) = wheels.glob("frameloom_client-*-py3-none-any.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    str(wheel)], check=True, timeout=600)

    media = tmp_path / "media"
    write_sequence(media / "shot", [(f * 255).astype(np.uint8) for f in make_clip(6, (40, 48), seed=1).frames])
    server = RunningServer(tmp_path, media_roots=[media])
    try:
        script = textwrap.dedent(f"""
            import importlib.util, sys
            from frameloom_client import FrameloomClient, pb
            from frameloom_client.jobspec import build_spec, keyframes_from_tracks
            spec = build_spec(style="filter:cartoon", params={{"levels": 6}}, deflicker="none",
                              input={str(media / "shot")!r}, output={str(media / "out")!r},
                              keyframes=keyframes_from_tracks({{"param:levels": [(0, 4), (5, 9)]}}))
            with FrameloomClient({server.target!r}) as client:
                job = client.wait(client.submit(spec).id)
                sent = client.get_job(job.id).spec
            assert job.state == pb.JOB_STATE_SUCCEEDED and job.done == 6, job
            assert [(k.frame, k.params["levels"]) for k in sent.keyframes] == [(0, 4.0), (5, 9.0)]
            assert importlib.util.find_spec("torch") is None
            assert not [m for m in sys.modules if m.split(".")[0] in ("torch", "frameloom", "cv2")]
            print("ok")
        """)
        proc = subprocess.run([str(py), "-c", script], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
        assert len(read_sequence(media / "out")) == 6
    finally:
        server.stop()


def test_build_spec_names_what_is_wrong():
    from frameloom.errors import UserError

    with pytest.raises(UserError, match="unknown setting colour"):
        build_spec(style="filter:cartoon", colour=3)
    with pytest.raises(UserError, match="prompt only applies to other styles"):
        build_spec(style="filter:cartoon", prompt="a harbour")
    # An editor's panel holds every field: not strict, what does not apply is left out.
    spec = build_spec({"style": "filter:cartoon", "prompt": "a harbour", "strength": 0.4},
                      strict=False)
    assert not spec.style.HasField("diffusion")
    with pytest.raises(UserError, match="strength must be in"):
        build_spec(style="diffusion", model="builtin:tiny", strength=1.5)
    with pytest.raises(UserError, match="unknown temporal mode"):
        build_spec(style="filter:cartoon", deflicker="sideways")


def test_keyframes_from_host_samples_round_trip_through_the_schedule():
    """A host sampled at every frame sends few keyframes, and the server's interpolation
    gives every sample back."""
    from frameloom_client.jobspec import Schedule

    values = {f: (0.3 if f < 10 else 0.3 + 0.05 * (f - 10)) if f < 20 else 0.8 for f in range(40)}
    keys = keyframes_from_tracks({"strength": values.items(),
                                  "prompt": [(0, "dawn"), (1, "dawn"), (30, "night")]})
    assert [k.frame for k in keys] == [0, 10, 20, 30, 39]
    spec = build_spec(style="diffusion", model="builtin:tiny", keyframes=keys)
    schedule = Schedule(spec)
    assert max(abs(schedule.at(f).strength - v) for f, v in values.items()) < 1e-6
    assert (schedule.at(29).prompt, schedule.at(29).next_prompt) == ("dawn", "night")


def test_spec_hash_ignores_delivery_not_pixels():
    a = build_spec(style="filter:cartoon", input="/a.mp4", output="/x.mov", frames="0-9")
    b = build_spec(style="filter:cartoon", input="/b.mp4", output="/y", frames="5-7", crf=30)
    c = build_spec(style="filter:cartoon", params={"levels": 3})
    assert spec_hash(a) == spec_hash(b) != spec_hash(c)


# ---- one path rule --------------------------------------------------------------------------

def test_job_saved_from_another_directory_renders(tmp_path, monkeypatch):
    """stylize --save-job sub/j.toml from one folder, render it from another: same frames."""
    clip = make_clip(5, (32, 40), seed=2)
    write_sequence(tmp_path / "work" / "clip", [(f * 255).astype(np.uint8) for f in clip.frames])
    monkeypatch.chdir(tmp_path / "work")
    assert main(["stylize", "clip", "--style", "filter:pencil", "--no-deflicker",
                 "--save-job", "sub/j.toml", "-o", "first"]) == 0
    text = (tmp_path / "work" / "sub" / "j.toml").read_text()
    assert 'input = "../clip"' in text and 'output = "../first"' in text
    monkeypatch.chdir(tmp_path)
    assert main(["render", "work/sub/j.toml", "-o", "second"]) == 0
    first = read_sequence(tmp_path / "work" / "first")
    second = read_sequence(tmp_path / "second")
    assert len(first) == 5 and all(np.array_equal(a, b) for a, b in zip(first, second))


def test_load_and_save_keep_every_path_relative_to_the_job_file(tmp_path):
    spec = build_spec(style="diffusion", model="models/m.safetensors", input="shots/a.mov",
                      output="renders/a.mov", guide="shots/orig.mov", tokenizer="tok",
                      controlnets=["depth=cn/depth.safetensors@0.5"],
                      annotators={"depth": "annot/dpt"}, loras=["l/a.safetensors@0.8"],
                      embeddings=["e/x.pt", "builtin:none"], base_dir=tmp_path)
    assert spec.input == str(tmp_path / "shots" / "a.mov")
    path = save_spec(spec, tmp_path / "jobs" / "a.toml")
    text = path.read_text()
    for rel in ("../shots/a.mov", "../models/m.safetensors", "../cn/depth.safetensors",
                "../annot/dpt", "../l/a.safetensors", "../e/x.pt", "../shots/orig.mov", "../tok"):
        assert f'"{rel}"' in text, rel
    again = load_spec(path)
    assert again == spec


# ---- deflicker as a job ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def flickering(tmp_path_factory):
    root = tmp_path_factory.mktemp("deflicker")
    clip = make_clip(n_frames=7, size=(48, 56), seed=4)
    styled = flicker(stylize_clip(clip), seed=5)
    to8 = lambda frames: [(np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8) for f in frames]  # noqa: E731
    write_sequence(root / "orig", to8(clip.frames))
    write_sequence(root / "styled", to8(styled))
    assert main(["deflicker", str(root / "styled"), "--guide", str(root / "orig"), "--window", "2",
                 "-o", str(root / "cli")]) == 0
    return root, read_sequence(root / "cli"), read_sequence(root / "styled")


def _guided(root) -> pb.JobSpec:
    return build_spec(style="identity", guide=str(root / "orig"), window=2)


def test_headless_and_streamed_deflicker_jobs_equal_the_command(flickering, tmp_path):
    root, expected, styled = flickering
    assert not all(np.array_equal(a, b) for a, b in zip(expected, styled))   # it did something
    server = RunningServer(tmp_path, media_roots=[root])
    try:
        with server.client() as client:
            spec = _guided(root)
            spec.input, spec.output = "styled", "headless"
            job = client.wait(client.submit(spec).id)
            assert job.state == pb.JOB_STATE_SUCCEEDED
            headless = read_sequence(root / "headless")
            streamed = client.stylize_all(_guided(root), styled)
    finally:
        server.stop()
    for got in (headless, streamed):
        assert len(got) == len(expected)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_a_guide_outside_the_media_roots_is_refused(flickering, tmp_path):
    root, _, styled = flickering
    from frameloom_client import FrameloomError

    server = RunningServer(tmp_path, media_roots=[root / "styled"])
    try:
        with server.client() as client, pytest.raises(FrameloomError) as err:
            client.stylize_all(_guided(root), styled)
    finally:
        server.stop()
    assert err.value.code == "PERMISSION_DENIED" and "temporal.guide" in str(err.value)


# ---- layering -------------------------------------------------------------------------------

def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update(f"{base}.{a.name}" if node.module else f"{base}{a.name}" for a in node.names)
    return names


def test_only_the_service_speaks_grpc():
    for path in sorted(ENGINE.rglob("*.py")):
        rel = path.relative_to(ENGINE)
        grpc = any(n == "grpc" or n.startswith(("grpc.", "grpc_")) or n.endswith("_pb2_grpc")
                   for n in _imports(path))
        if rel.parts[0] == "service" and rel.name != "__init__.py":
            assert grpc, f"{rel} is in service/ but does not speak gRPC: it belongs in jobs/"
        elif rel.parts[0] != "service":
            assert not grpc, f"{rel} imports gRPC; only service/ may"


def test_the_temporal_engine_imports_no_cli_jobs_or_service():
    for path in sorted((ENGINE / "temporal").rglob("*.py")):
        bad = [n for n in _imports(path) if n.startswith(("..cli", "..jobs", "..service"))
               or n.startswith(("frameloom.cli", "frameloom.jobs", "frameloom.service"))]
        assert not bad, f"temporal/{path.name} imports {bad}"
