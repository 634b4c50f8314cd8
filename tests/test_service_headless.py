"""Headless jobs (media on the server), auth, health, reflection, and kill -9 + restart."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest

from frameloom.errors import UserError
from frameloom.jobs.engine import EngineConfig
from frameloom.service.server import ServerConfig, check_config
from frameloom_client import FrameloomClient, FrameloomError, pb
from test_service_helpers import RunningServer, clip, spec, wait_until

TESTS = Path(__file__).resolve().parent


def write_sequence(folder: Path, frames) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"frame_{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder


def read_sequence(folder: Path) -> list[np.ndarray]:
    return [cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
            for p in sorted(folder.glob("*.png"))]


def job(input_: str, output: str, kind="filter:cartoon") -> pb.JobSpec:
    s = spec(kind)
    s.input, s.output = input_, output
    return s


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    write_sequence(root / "shots" / "a", clip(6, 40, 56))
    outside = tmp_path_factory.mktemp("outside")
    write_sequence(outside / "secret", clip(2, 8, 8))
    (root / "escape").symlink_to(outside / "secret")
    return root, outside


@pytest.fixture(scope="module")
def server(tmp_path_factory, media):
    models = tmp_path_factory.mktemp("models")
    (models / "dreamshaper_8.safetensors").write_bytes(b"\0" * 16)
    (models / "controlnet").mkdir()
    (models / "controlnet" / "depth.safetensors").write_bytes(b"\0" * 8)
    srv = RunningServer(tmp_path_factory.mktemp("headless"), media_roots=[media[0]],
                        model_dirs=[models])
    yield srv
    srv.stop()


def test_submit_watch_fetch(server, media):
    root, _ = media
    with server.client() as c:
        submitted = c.submit(job("shots/a", "out/a"))
        assert submitted.state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING)
        seen = []
        final = c.wait(submitted.id, seen.append)
        assert final.state == pb.JOB_STATE_SUCCEEDED and final.done == 6
        assert seen[-1].state == pb.JOB_STATE_SUCCEEDED
        written = read_sequence(root / "out" / "a")
        assert len(written) == 6
        # The same job through the local CLI path writes the same pixels.
        from frameloom.jobs.local import run_local

        run_local(job(str(root / "shots/a"), str(root / "out/local")), quiet=True)
        for a, b in zip(written, read_sequence(root / "out" / "local")):
            np.testing.assert_array_equal(a, b)
        fetched = dict(c.fetch(submitted.id, bit_depth=8))
        assert sorted(fetched) == list(range(6))
        assert submitted.id in [j.id for j in c.list_jobs()]
        assert c.get_job(submitted.id).spec.input.endswith("shots/a")


def test_capabilities_list_models(server):
    with server.client() as c:
        models = {(m.name, m.kind) for m in c.capabilities().models}
    assert ("dreamshaper_8.safetensors", "checkpoint") in models
    assert ("controlnet/depth.safetensors", "controlnet") in models


def _code(fn):
    with pytest.raises(FrameloomError) as info:
        fn()
    assert str(info.value)
    return info.value.code


@pytest.mark.parametrize("path", ["../outside/secret", "shots/../../x", "/etc", "escape"])
def test_paths_outside_the_media_roots(server, media, path):
    with server.client() as c:
        assert _code(lambda: c.submit(job(path, "out/x"))) == "PERMISSION_DENIED"
        assert _code(lambda: c.submit(job("shots/a", path))) == "PERMISSION_DENIED"
    # the absolute path of the real outside folder too
    with server.client() as c:
        assert _code(lambda: c.submit(job(str(media[1] / "secret"), "out/x"))) == "PERMISSION_DENIED"


def test_headless_faults(server):
    with server.client() as c:
        assert _code(lambda: c.submit(job("shots/none", "out/x"))) == "NOT_FOUND"
        assert _code(lambda: c.submit(job("", "out/x"))) == "INVALID_ARGUMENT"
        bad = job("shots/a", "out/x", "diffusion")
        bad.style.diffusion.model = "missing.safetensors"
        assert _code(lambda: c.submit(bad)) == "NOT_FOUND"
        bad.style.diffusion.model = "../models/dreamshaper_8.safetensors"
        assert _code(lambda: c.submit(bad)) == "PERMISSION_DENIED"
        same = job("shots/a", "shots/a")
        assert _code(lambda: c.submit(same)) == "FAILED_PRECONDITION"
        bad = job("shots/a", "out/x")
        bad.frames.start, bad.frames.end = 4, 2
        assert _code(lambda: c.submit(bad)) == "INVALID_ARGUMENT"


def test_cancel_headless_job(tmp_path, media):
    srv = RunningServer(tmp_path, media_roots=[media[0]], delay=0.2)
    try:
        with srv.client() as c:
            first = c.submit(job("shots/a", "out/c1"))
            second = c.submit(job("shots/a", "out/c2"))
            wait_until(lambda: c.get_job(first.id).state == pb.JOB_STATE_RUNNING)
            assert c.get_job(second.id).queue_position == 0   # next, once the first has started
            assert c.cancel_job(second.id).state == pb.JOB_STATE_CANCELLED   # while queued
            c.cancel_job(first.id)                                             # while running
            final = wait_until(lambda: (j := c.get_job(first.id)).state == pb.JOB_STATE_CANCELLED and j)
            assert final.done < 6
            with pytest.raises(FrameloomError):
                c.wait(first.id)
    finally:
        srv.stop()


# ---- auth, health, reflection ---------------------------------------------------------------

def test_token_required_and_checked(tmp_path):
    srv = RunningServer(tmp_path, token="s3cret")
    try:
        with srv.client(token=None) as c:
            assert _code(c.capabilities) == "UNAUTHENTICATED"
            assert _code(lambda: c.stylize_all(spec(), clip(1), cache=False)) == "UNAUTHENTICATED"
            assert _code(lambda: list(c.watch("x"))) == "UNAUTHENTICATED"
        with srv.client(token="wrong") as c:
            assert _code(c.capabilities) == "UNAUTHENTICATED"
        with srv.client() as c:
            assert c.capabilities().auth_required
            assert len(c.stylize_all(spec(), clip(2, 8, 8), cache=False)) == 2
        # Health stays open for load balancers and probes.
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(srv.target) as ch:
            resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        srv.stop()


def test_reflection_lists_the_service(server):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(server.target) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        resp = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in resp.list_services_response.service}
    assert "frameloom.v1.Frameloom" in names and "grpc.health.v1.Health" in names


def test_non_loopback_needs_a_token(tmp_path):
    cfg = EngineConfig(store_dir=str(tmp_path))
    with pytest.raises(UserError, match="token"):
        check_config(ServerConfig(engine=cfg, host="0.0.0.0"))
    check_config(ServerConfig(engine=cfg, host="0.0.0.0", token="t"))
    check_config(ServerConfig(engine=cfg, host="::1"))


def test_submit_command(server, media, capsys):
    from frameloom.cli import main

    job_file = media[0] / "job.toml"
    job_file.write_text('name = "cli"\ninput = "shots/a"\noutput = "out/cli"\n'
                        '[style]\nkind = "filter:pencil"\n[temporal]\nmode = "none"\n')
    assert main(["submit", str(job_file), "--server", server.target, "-q"]) == 0
    assert len(read_sequence(media[0] / "out" / "cli")) == 6
    assert main(["submit", str(job_file), "--server", server.target, "-q",
                 "--input", "../nope"]) != 0
    err = capsys.readouterr().err
    assert "PERMISSION_DENIED" in err and "Traceback" not in err


# ---- kill -9 mid-job, restart, resume -------------------------------------------------------

SERVER_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, {tests!r})
    from frameloom.jobs.engine import Engine, EngineConfig
    from frameloom.service.server import FrameloomServer, ServerConfig
    from test_service_helpers import SlowStylizer

    async def main():
        cfg = EngineConfig(store_dir={store!r}, media_roots=[{media!r}], devices=["cpu"])
        engine = Engine(cfg, make_stylizer=lambda spec, **kw: SlowStylizer(spec, 0.15, **kw))
        server = FrameloomServer(ServerConfig(engine=cfg, port=0, port_file={port_file!r}),
                                 engine=engine)
        await server.start()
        await asyncio.Event().wait()
    asyncio.run(main())
""")


def _start_server(tmp_path, store, media_root):
    port_file = tmp_path / "port"
    if port_file.exists():
        port_file.unlink()
    script = SERVER_SCRIPT.format(tests=str(TESTS), store=str(store), media=str(media_root),
                                  port_file=str(port_file))
    proc = subprocess.Popen([sys.executable, "-c", script])
    port = wait_until(lambda: port_file.exists() and port_file.read_text(), timeout=60)
    return proc, f"127.0.0.1:{port}"


def _job_with(temporal: str, input_: str, output: str) -> pb.JobSpec:
    s = job(input_, output)
    if temporal != "none":
        s.temporal.mode, s.temporal.window, s.temporal.iterations = temporal, 1, 1
    return s


# "window": frames after the resume point need the deflicker context of frames before it, which
# the runner re-reads (not re-writes) on resume.
@pytest.mark.parametrize("temporal,n,h,w", [
    ("none", 24, 40, 56),
    ("window", 10, 24, 32),
])
def test_kill_9_mid_job_then_restart_resumes(tmp_path, temporal, n, h, w):
    media_root = tmp_path / "media"
    write_sequence(media_root / "in", clip(n, h, w, seed=5))
    store = tmp_path / "store"
    proc, target = _start_server(tmp_path, store, media_root)
    try:
        with FrameloomClient(target) as c:
            job_id = c.submit(_job_with(temporal, "in", "out/resumed")).id
            wait_until(lambda: c.get_job(job_id).done >= 3, timeout=120, interval=0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        out_dir = store / "jobs" / job_id / "out"
        before = {p.name: p.stat().st_mtime_ns for p in out_dir.glob("*.frame")}
        assert 3 <= len(before) < n
        proc, target = _start_server(tmp_path, store, media_root)
        with FrameloomClient(target) as c:
            final = c.wait(job_id)
            assert final.state == pb.JOB_STATE_SUCCEEDED and final.done == n
        after = {p.name: p.stat().st_mtime_ns for p in out_dir.glob("*.frame")}
        assert all(after[name] == t for name, t in before.items()), "finished frames were redone"
    finally:
        proc.kill()
        proc.wait(10)
    # Every frame equals an uninterrupted run of the same job.
    from frameloom.jobs.local import run_local

    run_local(_job_with(temporal, str(media_root / "in"), str(media_root / "out" / "straight")),
              quiet=True)
    resumed, straight = read_sequence(media_root / "out" / "resumed"), read_sequence(media_root / "out" / "straight")
    assert len(resumed) == len(straight) == n
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a, b)


def test_tls_with_token(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a test certificate: {made.stderr[-200:]!r}")
    import asyncio
    import threading

    from frameloom.service.server import FrameloomServer

    cfg = EngineConfig(store_dir=str(tmp_path / "store"), devices=["cpu"])
    srv = FrameloomServer(ServerConfig(engine=cfg, port=0, token="tok", tls_cert=str(cert),
                                       tls_key=str(key)))
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    port = asyncio.run_coroutine_threadsafe(srv.start(), loop).result(60)
    try:
        with FrameloomClient(f"localhost:{port}", token="tok", root_certificates=cert.read_bytes()) as c:
            assert c.capabilities().auth_required
            frames = clip(2, 8, 8)
            for a, b in zip(c.stylize_all(spec(), frames, cache=False), frames):
                np.testing.assert_array_equal(a, b)
        with FrameloomClient(f"localhost:{port}", token="tok", timeout=5) as c:   # plaintext
            assert _code(c.capabilities) in ("UNAVAILABLE", "INTERNAL", "UNKNOWN")
    finally:
        asyncio.run_coroutine_threadsafe(srv.stop(0.5), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
