"""The `frameloom` command end to end, as a user runs it: real files, real subprocesses."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from frameloom.media import open_source
from mediafiles import audio_duration, count_frames, photo_frames, write_clip

FRAMELOOM = [sys.executable, "-m", "frameloom.cli"]


def run(*args, check=True, timeout=300, **kw):
    # The command runs as a user runs it, with the default threads (fitted to the free cores:
    # this test process only waits), not the suite's fixed one.
    env = {k: v for k, v in os.environ.items() if k != "FRAMELOOM_THREADS"}
    proc = subprocess.run([*FRAMELOOM, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    fps = Fraction(24000, 1001)
    return write_clip(d / "clip.mp4", photo_frames(frames=16, size=(160, 96)), fps,
                      audio_seconds=16 / float(fps))


def test_stylize_keeps_rate_length_and_audio(clip, tmp_path):
    out = tmp_path / "out.mp4"
    run("stylize", clip, "--style", "filter:cartoon", "-o", out)
    info = open_source(str(out)).info
    assert info.fps == Fraction(24000, 1001)
    assert count_frames(out) == 16
    assert audio_duration(out) == pytest.approx(audio_duration(clip), abs=0.05)
    # It is stylized: far from the source, but the same picture.
    src = [f.image for f in open_source(clip)]
    got = [f.image for f in open_source(str(out))]
    diff = np.mean([np.abs(a - b).mean() for a, b in zip(src, got)])
    assert 0.02 < diff < 0.3


def test_render_job_file_equals_stylize(clip, tmp_path):
    job = tmp_path / "job.toml"
    a = tmp_path / "a"
    run("stylize", clip, "--style", "filter:pencil", "--param", "color=1", "--frames", "2-9",
        "--no-deflicker", "-o", a, "--save-job", job)
    text = job.read_text()
    assert 'kind = "filter:pencil"' in text and "[frames]" in text
    b = tmp_path / "b"
    run("render", job, "-o", b)
    fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
    assert fa == fb == [f"frame_{i:06d}.png" for i in range(2, 10)]
    for name in fa:
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_dry_run_prints_the_job(clip):
    proc = run("stylize", clip, "-o", "x.mov", "--dry-run")
    assert 'input = "' in proc.stdout and 'kind = "filter:cartoon"' in proc.stdout


def test_info_describes_clip_and_machine(clip):
    data = json.loads(run("info", clip, "--json").stdout)
    assert data["clip"]["frames"] == 16 and data["clip"]["size"] == "160x96"
    assert "24000/1001" in data["clip"]["fps"]
    machine = json.loads(run("info", "--json").stdout)["machine"]
    assert "cpu" in machine["devices"] and "libx264" in machine["encoders"]


@pytest.mark.parametrize("args,message", [
    (["stylize", "{missing}", "-o", "{out}"], "input not found"),
    (["stylize", "{clip}", "-o", "{clip}"], "same as the input"),
    (["stylize", "{clip}", "--style", "filter:nope", "-o", "{out}"], "unknown style"),
    (["stylize", "{clip}", "--frames", "40-50", "-o", "{out}"], "16 frames"),
    (["stylize", "{corrupt}", "-o", "{out}"], "cannot read video"),
    (["stylize", "{clip}", "-o", "{nodir}"], "does not exist"),
    (["stylize", "{clip}", "-o", "{readonly}"], "permission denied"),
    (["stylize", "{clip}", "--param", "levels=999", "-o", "{out}"], "outside"),
    (["stylize", "{clip}", "--style", "diffusion", "-o", "{out}"], "needs a model"),
    (["render", "{missing}"], "job file not found"),
    (["info", "{missing}"], "input not found"),
    (["stylize", "{clip}", "--frames", "x", "-o", "{out}"], "bad frame range"),
])
def test_user_mistakes_get_one_line(clip, tmp_path, args, message):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(open(clip, "rb").read()[:5000])
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    names = dict(clip=clip, missing=tmp_path / "missing.mp4", out=tmp_path / "out.mp4",
                 corrupt=corrupt, nodir=tmp_path / "no" / "such" / "out.mp4",
                 readonly=readonly / "out.mp4")
    if os.geteuid() == 0 and "{readonly}" in args:
        pytest.skip("root writes anywhere")
    proc = run(*[a.format(**names) for a in args], check=False)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines()
             if ln.strip() and "frame/s" not in ln and "%|" not in ln]
    assert len(lines) == 1, proc.stderr
    assert message in lines[0] and "Traceback" not in proc.stderr


def test_ctrl_c_keeps_a_valid_file_up_to_the_last_frame(tmp_path):
    # Long enough that a fast machine is still rendering when the signal comes.
    src = write_clip(tmp_path / "long.mp4", photo_frames(frames=480, size=(320, 192)), 24)
    out = tmp_path / "out.mp4"
    # SIGINT at its default in the child: a suite started in the background by a shell inherits
    # it ignored, and a command that ignores Ctrl-C is right to go on.
    proc = subprocess.Popen([*FRAMELOOM, "stylize", src, "--style", "filter:oil", "--no-deflicker",
                             "-o", str(out)], stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # The signal comes once the progress bar says a tenth of the frames are done (the file's
    # size says nothing: the muxer writes in 32 KiB blocks, and this clip compresses well).
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stderr.read(1), "")))
    reader.start()
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        done = [int(n) for n in re.findall(r"(\d+)/480", "".join(chunks))]
        if done and max(done) >= 48:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    reader.join(timeout=60)
    err = "".join(chunks)
    assert proc.returncode == 130, err
    assert "interrupted; kept" in err and "Traceback" not in err
    kept = int(err.split("kept ")[1].split()[0])
    assert 0 < kept < 480
    assert count_frames(out) == kept


def test_demo_renders_video_and_comparison(tmp_path):
    run("demo", tmp_path / "demo", timeout=900)
    video, comparison = tmp_path / "demo" / "demo.mp4", tmp_path / "demo" / "comparison.png"
    assert count_frames(video) == 72
    assert audio_duration(video) > 2.5
    import cv2

    img = cv2.imread(str(comparison))
    assert img is not None and img.shape[1] == 1024 and img.shape[0] > 200
    # Its flicker report compares the frame-by-frame render with the deflickered one.
    from test_report import report_data

    data = report_data(tmp_path / "demo" / "report.html")
    assert (tmp_path / "demo" / "report.png").exists()
    assert data["frames"] == list(range(1, 72))
    frame_by_frame, deflickered = (s["mean"] for s in data["stats"][1:])
    assert deflickered < 0.5 * frame_by_frame
