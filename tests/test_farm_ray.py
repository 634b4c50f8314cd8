"""Chunks on a local Ray cluster (``ray.init(num_cpus=2)``): the same frames as local chunks, a
killed worker retried with the same result, cancel, the CLI's ``render --ray`` and ``serve --ray``."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from frameloom.cli import main  # noqa: E402
from frameloom.errors import Cancelled  # noqa: E402
from frameloom.farm.chunk import MANIFEST, partial_folders, render_chunk  # noqa: E402
from frameloom.farm.plan import job_indices, plan_chunks  # noqa: E402
from frameloom.farm.ray_executor import RayOptions, render_on_ray  # noqa: E402
from frameloom.farm.stitch import stitch  # noqa: E402
from frameloom_client import FrameloomClient, pb  # noqa: E402
from synthclips import make_clip  # noqa: E402
from test_farm import CARTOON, job_spec, read_frames, write_frames, _save  # noqa: E402

FRAMELOOM = [sys.executable, "-m", "frameloom.cli"]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("ray") / "shot", make_clip(30, (56, 72), seed=4).frames)


def chunk_frames(folder: Path) -> dict[int, bytes]:
    import json

    indices = json.loads((folder / MANIFEST).read_text())["indices"]
    return {i: (folder / f"frame_{i:06d}.png").read_bytes() for i in indices}


def test_ray_chunks_equal_local_chunks(source, tmp_path):
    spec = job_spec(source, tmp_path / "ray-out", CARTOON, {"mode": "window", "window": 2})
    chunks = plan_chunks(job_indices(spec), 10, 3)
    seen = []
    results = render_on_ray(spec, chunks, tmp_path / "ray", RayOptions(),
                            progress=lambda done, total, stage: seen.append(done))
    assert [r.chunk for r in results] == chunks and not any(r.skipped for r in results)
    rendered = sum(r.frames_written for r in results)
    assert rendered == 13 + 16 + 13 and seen and seen[-1] == rendered
    for c in chunks:
        render_chunk(spec, c, tmp_path / "local")
        assert chunk_frames(tmp_path / "ray" / c.name) == chunk_frames(tmp_path / "local" / c.name)
    stitch(spec, chunks, tmp_path / "ray", overlap=3)
    spec.output = str(tmp_path / "local-out")
    stitch(spec, chunks, tmp_path / "local", overlap=3)
    a, b = read_frames(tmp_path / "ray-out"), read_frames(tmp_path / "local-out")
    assert len(a) == 30 and all(np.array_equal(x, y) for x, y in zip(a, b))
    # Everything complete: a second run renders nothing.
    again = render_on_ray(spec, chunks, tmp_path / "ray", RayOptions())
    assert all(r.skipped for r in again)


def test_a_worker_killed_mid_chunk_is_retried(source, tmp_path):
    """SIGKILL the worker's process once its chunk has frames on disk: Ray restarts it, the
    chunk is rendered again, and the output is complete and the same as a local render."""
    spec = job_spec(source, tmp_path / "out", CARTOON, {"mode": "window", "window": 2})
    chunks = plan_chunks(job_indices(spec), 30, 0)   # one chunk, one worker
    killed = []

    def kill_when_half_done():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            for part in partial_folders(tmp_path / "ray"):
                if len(list(part.glob("*.png"))) >= 5:
                    pid = int(part.name.rsplit("-", 1)[1])
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_when_half_done)
    watcher.start()
    try:
        results = render_on_ray(spec, chunks, tmp_path / "ray", RayOptions(workers=1))
    finally:
        watcher.join()
    assert killed, "the worker finished before it could be killed"
    assert results[0].frames_written == 30 and not results[0].skipped
    render_chunk(spec, chunks[0], tmp_path / "local")
    assert chunk_frames(tmp_path / "ray" / chunks[0].name) == chunk_frames(tmp_path / "local" / chunks[0].name)


def test_cancel_stops_every_worker(source, tmp_path):
    spec = job_spec(source, tmp_path / "out", CARTOON, {"mode": "window", "window": 2})
    chunks = plan_chunks(job_indices(spec), 15, 2)
    pids: set[int] = set()

    def cancelled() -> bool:
        parts = partial_folders(tmp_path / "ray")
        pids.update(int(p.name.rsplit("-", 1)[1]) for p in parts)
        return len(pids) == 2   # both workers are rendering

    with pytest.raises(Cancelled):
        render_on_ray(spec, chunks, tmp_path / "ray", RayOptions(), is_cancelled=cancelled)
    assert not any((tmp_path / "ray" / c.name).exists() for c in chunks)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids), "a worker kept rendering after the cancel"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie is gone for good, only not reaped yet
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_render_with_ray_from_the_command_line(source, tmp_path):
    """`frameloom render JOB --ray --chunk N --overlap H` joins the initialised cluster, renders
    and stitches: the same frames as the plain render."""
    job = _save(job_spec(source, tmp_path / "out", CARTOON, {"mode": "window", "window": 2}), tmp_path)
    assert main(["render", job, "--ray", "--chunk", "12", "--overlap", "3", "--workers", "2"]) == 0
    assert main(["render", job, "-o", str(tmp_path / "single")]) == 0
    a, b = read_frames(tmp_path / "out"), read_frames(tmp_path / "single")
    assert len(a) == 30 and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_serve_hands_headless_jobs_to_ray(source, tmp_path):
    """`frameloom serve --ray ADDRESS`: a headless job runs as chunks on the Ray cluster the
    server joined, reports its states and progress through GetJob/WatchJob, and writes the output
    a local render writes."""
    media = tmp_path / "media"
    shot = write_frames(media / "shot", read_frames(source))
    port_file = tmp_path / "port"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    cluster = ray.get_runtime_context().gcs_address   # joins the cluster this module started
    server = subprocess.Popen([*FRAMELOOM, "serve", "--port", "0", "--port-file", str(port_file),
                               "--media-root", str(media), "--store", str(tmp_path / "store"),
                               "--ray", cluster, "--ray-chunk", "12", "--ray-overlap", "3",
                               "--ray-workers", "2"],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists() or not port_file.read_text().strip():
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        target = f"127.0.0.1:{port_file.read_text().strip()}"
        spec = job_spec(shot, media / "out", CARTOON, {"mode": "window", "window": 2})
        states, progress = set(), []
        with FrameloomClient(target, ready_timeout=60) as client:
            job = client.submit(spec)

            def watch(j: pb.Job) -> None:
                states.add(j.state)
                progress.append((j.done, j.stage))

            final = client.wait(job.id, watch)
            again = client.get_job(job.id)
        assert final.state == pb.JOB_STATE_SUCCEEDED, final.error
        assert again.done == again.total == 30 and again.state == pb.JOB_STATE_SUCCEEDED
        assert pb.JOB_STATE_RUNNING in states
        assert any("Ray" in stage for _, stage in progress)
        done = [d for d, _ in progress]
        assert done == sorted(done) and max(done) <= 30
        assert not (media / "out.chunks").exists()   # cleaned once stitched
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
    assert main(["render", _save(job_spec(shot, tmp_path / "single", CARTOON,
                                          {"mode": "window", "window": 2}), tmp_path)]) == 0
    a, b = read_frames(media / "out"), read_frames(tmp_path / "single")
    assert len(a) == 30 and all(np.array_equal(x, y) for x, y in zip(a, b))


def _serve(tmp_path, media, port_file):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    if port_file.exists():
        port_file.unlink()
    proc = subprocess.Popen([*FRAMELOOM, "serve", "--port", "0", "--port-file", str(port_file),
                             "--media-root", str(media), "--store", str(tmp_path / "store"),
                             "--ray", ray.get_runtime_context().gcs_address, "--ray-chunk", "10",
                             "--ray-overlap", "3", "--ray-workers", "1"],
                            env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not port_file.exists() or not port_file.read_text().strip():
        assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)
    return proc, f"127.0.0.1:{port_file.read_text().strip()}"


def test_serve_ray_job_resumes_after_a_crash(source, tmp_path):
    """kill -9 the server once a chunk is complete: the restarted server requeues the job from
    its store and renders only the chunks that were not complete."""
    media = tmp_path / "media"
    shot = write_frames(media / "shot", read_frames(source))
    spec = job_spec(shot, media / "out", CARTOON, {"mode": "window", "window": 2})
    port_file = tmp_path / "port"
    server, target = _serve(tmp_path, media, port_file)
    try:
        with FrameloomClient(target, ready_timeout=60) as client:
            job = client.submit(spec)
        deadline = time.monotonic() + 240
        while not list((media / "out.chunks").glob(f"*/{MANIFEST}")):
            assert time.monotonic() < deadline, "no chunk finished"
            time.sleep(0.05)
    finally:
        server.kill()
        server.wait(30)
    server, target = _serve(tmp_path, media, port_file)
    try:
        stages = []
        with FrameloomClient(target, ready_timeout=60) as client:
            final = client.wait(job.id, lambda j: stages.append(j.stage))
        assert final.state == pb.JOB_STATE_SUCCEEDED and final.done == 30, final.error
        assert any(s.startswith("rendering ") and s.endswith(" of 3 chunks on Ray") and
                   not s.startswith("rendering 3 ") for s in stages), stages
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    assert main(["render", _save(job_spec(shot, tmp_path / "single", CARTOON,
                                          {"mode": "window", "window": 2}), tmp_path)]) == 0
    a, b = read_frames(media / "out"), read_frames(tmp_path / "single")
    assert len(a) == 30 and all(np.array_equal(x, y) for x, y in zip(a, b))
