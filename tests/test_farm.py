"""Render-farm chunks: a plan's tasks in any order, anywhere, agree and stitch without a seam.

Clips are real photographs moved along a known camera path (synthclips), so warp error has exact
flow; the seam figures are those the farm promises: warp error across each seam at most 1.1x the
warp error inside the chunks, and the stitched clip within 1 dB PSNR of one uninterrupted render.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from frameloom.cli import main
from frameloom.farm.chunk import MANIFEST, partial_folders, render_chunk
from frameloom.farm.plan import chunk_of, job_indices, plan_chunks
from frameloom.farm.stitch import blend_zones, context_radius, stitch
from frameloom.frames import Frame
from frameloom.jobs.local import run_local
from frameloom.jobs.runner import run_job
from frameloom.media import ArraySource, open_source
from frameloom.media.sequence import SequenceSink
from frameloom.spec import save_spec, spec_from_dict
from mediafiles import audio_duration, count_frames, write_clip
from synthclips import backward_warp, flicker, make_clip, psnr, stylize_clip

FRAMELOOM = [sys.executable, "-m", "frameloom.cli"]


def write_frames(folder: Path, frames, bit_depth: int = 16) -> str:
    sink = SequenceSink(str(folder), bit_depth=bit_depth)
    for i, f in enumerate(frames):
        sink.write(Frame(i, i / 24, f))
    return str(folder)


def read_frames(path) -> list[np.ndarray]:
    return [f.image for f in open_source(str(path))]


def job_spec(input_, output, style, temporal, **extra):
    return spec_from_dict({"input": str(input_), "output": str(output), "style": style,
                           "temporal": temporal, "output_options": {"bit_depth": 16}, **extra})


def render_in_chunks(spec, chunk, overlap, root, order=None):
    chunks = plan_chunks(job_indices(spec), chunk, overlap)
    for c in order(chunks) if order else chunks:
        render_chunk(spec, c, root)
    return chunks, stitch(spec, chunks, root, overlap=overlap)


def pair_error(outputs, clip, t) -> float:
    """Warp error of one pair (t-1 -> t), Lai et al.'s masked MSE."""
    m = clip.mask[t]
    warped = backward_warp(outputs[t - 1], clip.flow[t])
    return float(((outputs[t] - warped) ** 2).mean(axis=2)[m].mean())


def seam_figures(outputs, clip, zones) -> tuple[float, float]:
    """(mean warp error of the pairs across each seam's blend zone, of the pairs inside chunks)."""
    across = sorted({t for z in zones for t in range(max(1, z.lo), min(len(outputs), z.hi + 2))})
    inside = [t for t in range(1, len(outputs)) if t not in across]
    return (float(np.mean([pair_error(outputs, clip, t) for t in across])),
            float(np.mean([pair_error(outputs, clip, t) for t in inside])))


@pytest.fixture(scope="module")
def clip():
    return make_clip(n_frames=48, size=(64, 80))


@pytest.fixture(scope="module")
def source(clip, tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("farm") / "shot", clip.frames)


@pytest.fixture(scope="module")
def small_clip():
    return make_clip(n_frames=36, size=(48, 64))


@pytest.fixture(scope="module")
def small_source(small_clip, tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("farm") / "small", small_clip.frames)


CARTOON = {"kind": "filter:cartoon"}


# ---- chunks that agree -----------------------------------------------------------------------

@pytest.mark.parametrize("mode,window", [("window", 2), ("fast", 3)])
def test_a_span_renders_as_the_whole_job_does(clip, mode, window):
    """Away from its ends, a span of a job comes out bit for bit as in the whole job (seeds and
    fast-mode blocks numbered in the job, not from the span's start)."""
    frames = [(f * 255 + 0.5).astype(np.uint8) for f in clip.frames[:24]]
    spec = job_spec("", "", CARTOON, {"mode": mode, "window": window, "seed": 5})
    full, part = {}, {}
    run_job(spec, ArraySource(frames), _Memory(full))
    run_job(spec, ArraySource(frames), _Memory(part), span=(7, 18))
    assert sorted(part) == list(range(7, 19))
    edge = 2 * window if mode == "fast" else window
    for i in range(7 + edge, 19 - edge):
        np.testing.assert_array_equal(part[i], full[i], err_msg=f"frame {i}")


def test_batches_fall_on_the_jobs_grid(clip):
    """A span starting mid-window is cut so its batches are the whole job's batches."""
    from frameloom.stylize.filters import Identity

    class Spy(Identity):
        batch_size = 4
        seen: list[list[int]] = []

        def stylize(self, frames, settings, is_cancelled=None):
            self.seen.append([f.index for f in frames])
            return super().stylize(frames, settings, is_cancelled)

    frames = [(f * 255).astype(np.uint8) for f in clip.frames[:16]]
    spec = job_spec("", "", {"kind": "identity"}, {"mode": "none"})
    run_job(spec, ArraySource(frames), _Memory({}), stylizer=Spy(), span=(6, 13))
    assert Spy.seen == [[6, 7], [8, 9, 10, 11], [12, 13]]


class _Memory:
    def __init__(self, into: dict):
        self.frames = into

    def write(self, frame):
        self.frames[frame.index] = frame.image

    def close(self):
        pass


def test_filter_chunks_stitch_to_the_uninterrupted_render(clip, source, tmp_path):
    """Cartoon + deflicker, 4 chunks in shuffled order: with handles wider than the deflicker's
    reach the stitched clip IS the uninterrupted render; the seam figures hold."""
    spec = job_spec(source, tmp_path / "stitched", CARTOON, {"mode": "window", "window": 2})
    single = job_spec(source, tmp_path / "single", CARTOON, {"mode": "window", "window": 2})
    run_local(single, quiet=True)
    chunks, result = render_in_chunks(spec, 12, 4, tmp_path / "chunks",
                                      order=lambda c: random.Random(7).sample(c, len(c)))
    assert result.frames_written == 48 and result.blended == 3 * 4 and result.reblended == 0
    full, stitched = read_frames(tmp_path / "single"), read_frames(tmp_path / "stitched")
    assert all(np.array_equal(a, b) for a, b in zip(full, stitched))
    zones = blend_zones(chunks, list(range(48)), context_radius(spec), 4)
    across, inside = seam_figures(stitched, clip, zones)
    assert across <= 1.1 * inside, (across, inside)


def test_diffusion_chunks_attend_to_the_jobs_anchor(small_clip, small_source, tmp_path):
    """builtin:tiny: every chunk replays the job's first window for its anchor (the clip's first
    frame), so past its first few frames a chunk is the uninterrupted render; a chunk attending to
    its own first frame is not.

    Seam figures: random weights make the tiny model's own frame-to-frame change uneven (its
    windows' seams, noise), so the uninterrupted render's warp error at the seams' pairs is itself
    0.9-1.3x its warp error elsewhere, wherever the seams fall. The figure is therefore held
    against the uninterrupted render's at the same pairs: chunking may add at most 10 %."""
    style = {"kind": "diffusion", "diffusion": {
        "model": "builtin:tiny", "prompt": "a painting", "steps": 4, "seed": 3, "guidance": 1.0,
        "strength": 0.6, "window": 4}}
    temporal = {"mode": "window", "window": 2}
    spec = job_spec(small_source, tmp_path / "stitched", style, temporal)
    run_local(job_spec(small_source, tmp_path / "single", style, temporal), quiet=True)
    chunks, result = render_in_chunks(spec, 12, 4, tmp_path / "chunks")
    full, stitched = read_frames(tmp_path / "single"), read_frames(tmp_path / "stitched")
    assert len(stitched) == 36 and result.blended == 2 * 2
    zones = blend_zones(chunks, list(range(36)), context_radius(spec), 4)
    across, inside = seam_figures(stitched, small_clip, zones)
    across_single, inside_single = seam_figures(full, small_clip, zones)
    assert across / inside <= 1.1 * across_single / inside_single, (across, inside, across_single)
    whole = psnr(np.stack(full), np.stack(small_clip.frames))
    assert abs(psnr(np.stack(stitched), np.stack(small_clip.frames)) - whole) <= 1.0
    assert psnr(np.stack(stitched), np.stack(full)) > 60   # measured: ~110 dB

    # The anchor is what makes it so: the same chunk with its own first frame as the anchor.
    from frameloom.stylize.diffusion import DiffusionStylizer

    class OwnAnchor(DiffusionStylizer):
        def _replay_anchor(self, is_cancelled):
            pass

    own = {}
    with open_source(small_source) as src:
        run_job(spec, src, _Memory(own), span=(8, 23), stylizer=OwnAnchor(spec, device="cpu"))
    late = range(16, 20)   # clear of the span's cold start and end
    with_replay = max(float(np.abs(stitched[i] - full[i]).max()) for i in late)
    without = min(float(np.abs(own[i] - full[i]).max()) for i in late)
    assert with_replay < 2e-4 and without > 5 * max(with_replay, 1e-4), (with_replay, without)


def test_deflicker_wider_than_the_handles_is_reblended(small_clip, tmp_path):
    """A fast-mode deflicker job (window 7) cut with 4 handles: chunks disagree around seams, so
    the stitch re-blends each zone with the guided deflicker. Against the clean stylization, the
    stitched clip stays within 1 dB of the uninterrupted render; seams meet the figure."""
    clip = small_clip
    clean = stylize_clip(clip)[:32]
    styled = write_frames(tmp_path / "styled", flicker(clean, strength=1.0, seed=2))
    guide = write_frames(tmp_path / "guide", clip.frames[:32])
    temporal = {"mode": "fast", "window": 7, "guide": guide}
    spec = job_spec(styled, tmp_path / "stitched", {"kind": "identity"}, temporal)
    run_local(job_spec(styled, tmp_path / "single", {"kind": "identity"}, temporal), quiet=True)
    chunks, result = render_in_chunks(spec, 8, 4, tmp_path / "chunks")
    assert result.blended == 3 * 4 and result.reblended == 3 * 4
    full, stitched = read_frames(tmp_path / "single"), read_frames(tmp_path / "stitched")
    ref = np.stack(clean)
    assert psnr(np.stack(stitched), ref) >= psnr(np.stack(full), ref) - 1.0   # 25.92 vs 25.97 dB
    zones = blend_zones(chunks, list(range(32)), context_radius(spec), 4)
    across, inside = seam_figures(stitched, clip, zones)
    assert across <= 1.1 * inside, (across, inside)   # measured: 0.49


def test_pose_smoothing_of_a_span_matches_the_whole_job(tmp_path):
    """Keypoints fitted over a chunk (plus half a smoothing window) are smoothed as in a fit
    over the whole job."""
    from frameloom.stylize.diffusion.pose import PoseAnnotator

    rng = np.random.default_rng(0)
    docs = []
    for t in range(40):
        body = [[50 + 2 * t + rng.normal(0, 2), 60 + j * 5 + rng.normal(0, 2), 0.9] for j in range(18)]
        docs.append({"people": [{"pose_keypoints_2d": sum(body, [])}]})
    (tmp_path / "kp.json").write_text(json.dumps({"frames": docs}))
    whole, part = PoseAnnotator(str(tmp_path / "kp.json"), {}), PoseAnnotator(str(tmp_path / "kp.json"), {})
    whole.fit(None, range(40))
    part.fit(None, range(40), spans=[(0, 5), (20, 29)])
    assert set(part.frames) == set(range(0, 9)) | set(range(17, 33))
    for i in [*range(0, 6), *range(20, 30)]:
        np.testing.assert_allclose(part.frames[i][0]["body"], whole.frames[i][0]["body"], err_msg=str(i))


# ---- tasks: idempotent, retry-safe, any order ------------------------------------------------

def test_rerunning_a_finished_task_does_no_work(source, tmp_path):
    spec = job_spec(source, tmp_path / "out", CARTOON, {"mode": "window", "window": 2})
    chunk = chunk_of(job_indices(spec), 12, 23, 4)
    first = render_chunk(spec, chunk, tmp_path / "chunks")
    assert not first.skipped and first.frames_written == 20
    stamp = {p.name: p.stat().st_mtime_ns for p in first.path.iterdir()}
    again = render_chunk(spec, chunk, tmp_path / "chunks", stylizer=_Exploding())
    assert again.skipped and again.frames_written == 0
    assert {p.name: p.stat().st_mtime_ns for p in again.path.iterdir()} == stamp
    # A changed job makes the chunk stale: it is rendered again.
    spec.style.params["levels"] = 4
    assert not render_chunk(spec, chunk, tmp_path / "chunks").skipped


class _Exploding:
    batch_size = 1

    def prepare(self, *a, **k):
        raise AssertionError("a finished chunk must not be rendered again")


def test_a_killed_task_leaves_nothing_that_looks_finished(source, tmp_path):
    from frameloom.errors import Cancelled

    spec = job_spec(source, tmp_path / "out", CARTOON, {"mode": "window", "window": 2})
    chunks = plan_chunks(job_indices(spec), 24, 4)
    seen = []
    with pytest.raises(Cancelled):
        render_chunk(spec, chunks[0], tmp_path / "chunks", is_cancelled=lambda: len(seen) > 5,
                     progress=lambda done, total, stage: seen.append(done))
    assert not (tmp_path / "chunks" / chunks[0].name).exists()
    assert len(partial_folders(tmp_path / "chunks")) == 1
    render_chunk(spec, chunks[1], tmp_path / "chunks")
    chunks_dir = str(tmp_path / "chunks")
    code = main(["stitch", _save(spec, tmp_path), "--chunk", "24", "--overlap", "4", "-q",
                 "--chunks-dir", chunks_dir])
    assert code == 2 and not (tmp_path / "out").exists()
    assert render_chunk(spec, chunks[0], tmp_path / "chunks").frames_written == 28
    assert partial_folders(tmp_path / "chunks") == []   # the retry replaced the dead attempt's
    assert main(["stitch", _save(spec, tmp_path), "--chunk", "24", "--overlap", "4", "-q",
                 "--chunks-dir", chunks_dir, "--clean"]) == 0
    assert len(read_frames(tmp_path / "out")) == 48 and not (tmp_path / "chunks").exists()


def _save(spec, folder: Path) -> str:
    path = folder / "job.toml"
    save_spec(spec, path)
    return str(path)


def test_plan_then_tasks_in_shuffled_order_from_anywhere(tmp_path, clip):
    """The public plan: tasks run as subprocesses from another folder, shuffled, then the stitch
    command: the same clip (and audio) as the tasks run in order in-process."""
    shots = tmp_path / "project" / "shots"
    shots.mkdir(parents=True)
    frames = [(f * 255 + 0.5).astype(np.uint8) for f in clip.frames[:40]]
    write_clip(shots / "sh010.mp4", frames, audio_seconds=40 / 24)
    job = tmp_path / "project" / "sh010.toml"
    job.write_text('input = "shots/sh010.mp4"\noutput = "renders/sh010.mp4"\n'
                   '[style]\nkind = "filter:cartoon"\n[temporal]\nmode = "window"\nwindow = 2\n')
    (tmp_path / "project" / "renders").mkdir()
    elsewhere = tmp_path / "node"
    elsewhere.mkdir()
    proc = subprocess.run([*FRAMELOOM, "plan", "project/sh010.toml", "--chunk", "16", "--overlap",
                           "4", "--program", f"{sys.executable} -m frameloom.cli"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert set(plan) == {"tasks", "stitch"}
    assert [t["frames"] for t in plan["tasks"]] == ["0-15", "16-31", "32-39"]
    assert all(set(t) == {"frames", "command"} for t in plan["tasks"])
    for task in random.Random(3).sample(plan["tasks"], 3):
        run = subprocess.run(task["command"], cwd=elsewhere, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
    run = subprocess.run(plan["stitch"], cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "project" / "renders" / "sh010.mp4"
    assert count_frames(out) == 40
    assert audio_duration(out) == pytest.approx(audio_duration(shots / "sh010.mp4"), abs=0.05)

    # In order, in this process, into a lossless output: equal to the shuffled run's chunks.
    ordered = tmp_path / "ordered"
    for task in plan["tasks"]:
        assert main(["render", str(job), "--frames", task["frames"], "--overlap", "4",
                     "-o", str(ordered)]) == 0
    assert main(["stitch", str(job), "--chunk", "16", "--overlap", "4", "-o", str(ordered), "-q"]) == 0
    shuffled_chunks = Path(f"{out}.chunks")
    for name in sorted(os.listdir(shuffled_chunks)):
        a, b = shuffled_chunks / name, Path(f"{ordered}.chunks") / name
        manifest = json.loads((a / MANIFEST).read_text())
        for i in manifest["indices"]:
            assert (a / f"frame_{i:06d}.png").read_bytes() == (b / f"frame_{i:06d}.png").read_bytes()
    single = tmp_path / "single"
    assert main(["render", str(job), "-o", str(single)]) == 0
    assert all(np.array_equal(x, y) for x, y in zip(read_frames(single), read_frames(ordered)))


def test_render_chunk_then_last_task_stitches(source, tmp_path):
    spec = job_spec(source, tmp_path / "out", CARTOON, {"mode": "none"}, frames={"end": 29})
    job = _save(spec, tmp_path)
    args = ["--overlap", "2", "--chunk", "10", "--stitch"]
    assert main(["render", job, "--frames", "10-19", *args]) == 0
    assert main(["render", job, "--frames", "20-29", *args]) == 0
    assert not (tmp_path / "out").exists()
    assert main(["render", job, "--frames", "0-9", *args]) == 0
    assert len(read_frames(tmp_path / "out")) == 30


@pytest.mark.parametrize("argv,message", [
    (["render", "{job}", "--frames", "40-60", "--overlap", "4"], "not all among the job's frames"),
    (["render", "{job}", "--overlap", "4"], "give its --frames"),
    (["render", "{job}", "--frames", "0-9", "--overlap", "4", "--stitch"], "--stitch needs --chunk"),
    (["render", "{job}", "--frames", "0-9", "--overlap", "-1"], "--overlap must be 0 or more"),
    (["render", "{job}", "--frames", "0-9/2", "--overlap", "2"], "the step is the job's"),
    (["plan", "{job}", "--chunk", "0"], "--chunk must be at least 1"),
    (["stitch", "{job}"], "chunks are not rendered"),
    (["render", "{job}", "--frames", "3-5", "--overlap", "2", "--chunk", "10", "--stitch"],
     "not a task of the plan"),
])
def test_farm_mistakes_are_one_line(source, tmp_path, capsys, argv, message):
    job = _save(job_spec(source, tmp_path / "out", CARTOON, {"mode": "none"}, frames={"end": 29}),
                tmp_path)
    assert main([a.format(job=job) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("frameloom: error:"), err
