"""The OpenFX plugin never hurts its host: unreachable or stopped servers, wrong tokens, failed
jobs, aborts, changed sources, purges and unloading all end in a clear status and message."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from frameloom_client import FrameloomClient, pb
from mediafiles import photo_frames
from ofx_host import FAILED, OK, ROOT, build_host, build_plugin
from test_ofx import job_ids, make_instance
from test_service_helpers import wait_until


@pytest.fixture
def frames():
    return photo_frames(frames=6, size=(64, 48), photo="astronaut")


def cartoon_of(server, frames):
    spec = pb.JobSpec(style=pb.StyleSpec(kind="filter:cartoon"))
    spec.temporal.mode = "none"
    with FrameloomClient(server.target) as c:
        return c.stylize_all(spec, frames, cache=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_fails_fast_with_a_message(host, frames):
    port = free_port()
    inst = host.create("byte", 3, 64, 48, 0, 5)
    inst.set_sources(frames)
    inst.set("server", f"127.0.0.1:{port}")
    try:
        t = time.monotonic()
        status, _ = inst.render(2)
        assert status == FAILED and time.monotonic() - t < 5
        assert inst.message.startswith("OfxMessageError: frameloom: cannot reach the frameloom server")
        assert f"127.0.0.1:{port}" in inst.message
        assert inst.source_fetches == 1   # nothing gathered for a server that is not there
    finally:
        inst.destroy()


def test_wrong_or_missing_token(host, frames, tmp_path, serve):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("guess")
    (tmp_path / "srv").mkdir()
    srv = serve(tmp_path / "srv", token_file=token)
    inst = make_instance(host, srv, frames, "byte", first=0)
    try:
        status, _ = inst.render(0)
        assert status == FAILED and "needs a bearer token" in inst.message
        inst.set("token_file", str(wrong))
        t = time.monotonic()
        status, _ = inst.render(0)
        assert status == FAILED and time.monotonic() - t < 5
        assert "wrong bearer token" in inst.message
        inst.set("token_file", str(tmp_path / "nowhere"))
        status, _ = inst.render(0)
        assert status == FAILED and "cannot read the token file" in inst.message
        inst.set("token_file", str(token))
        status, image = inst.render(0)
        assert status == OK and inst.message == ""
    finally:
        inst.destroy()
        srv.stop()


def test_server_stopped_between_renders(host, frames, tmp_path, serve):
    srv = serve(tmp_path)
    inst = make_instance(host, srv, frames, "byte", first=0)
    try:
        assert inst.render(1)[0] == OK
        with FrameloomClient(srv.target) as c:
            job_id = job_ids(host.log())[-1]
            wait_until(lambda: c.get_job(job_id).state == pb.JOB_STATE_SUCCEEDED)
        srv.stop()
        assert inst.render(4)[0] == OK           # finished frames need no server
        inst.choose("style", "filter:oil")       # new settings: a new job, and no server
        t = time.monotonic()
        status, _ = inst.render(4)
        assert status == FAILED and time.monotonic() - t < 5
        assert "cannot reach the frameloom server" in inst.message
    finally:
        inst.destroy()
        srv.stop()


def test_failed_job_reports_the_servers_message(host, server, frames):
    inst = make_instance(host, server, frames, "byte", style="diffusion", first=0)
    inst.set("model", "no-such-model.safetensors")
    try:
        status, _ = inst.render(0)
        assert status == FAILED
        assert "no-such-model.safetensors" in inst.message, inst.message
    finally:
        inst.destroy()


def test_abort_returns_promptly_and_the_job_carries_on(host, server, frames):
    inst = make_instance(host, server, frames, "byte", style="diffusion", first=0)
    inst.set("model", "builtin:tiny")
    inst.set("steps", 12)
    inst.set("seed", 11)
    with FrameloomClient(server.target) as c:
        jobs_before = len(c.list_jobs())
    try:
        result = {}
        worker = threading.Thread(target=lambda: result.update(r=inst.render(5), t=time.monotonic()))
        worker.start()
        time.sleep(1.5)
        assert worker.is_alive(), "the job finished too fast to test an abort"
        inst.set_abort(True)
        aborted_at = time.monotonic()
        worker.join(10)
        assert result["r"][0] == FAILED and result["t"] - aborted_at < 0.5
        assert inst.message == ""          # an abort is not an error
        inst.set_abort(False)
        status, _ = inst.render(5)         # the same job, still running: no new one
        assert status == OK
        with FrameloomClient(server.target) as c:
            assert len(c.list_jobs()) == jobs_before + 1
    finally:
        inst.set_abort(False)
        inst.destroy()


def test_abort_while_gathering_keeps_what_was_gathered(host, server, frames):
    inst = make_instance(host, server, frames, "byte", first=0)
    try:
        inst.set_abort(True)
        status, _ = inst.render(0)
        assert status == FAILED and inst.source_fetches <= 2
        inst.set_abort(False)
        assert inst.render(0)[0] == OK
        assert inst.source_fetches == 1 + len(frames)   # the range was read once in all
    finally:
        inst.destroy()


@pytest.mark.parametrize("unique_ids", [False, True], ids=["pixels", "host-ids"])
def test_changed_source_frames_are_stylized_again(host, server, frames, unique_ids):
    """A host's unique image identifiers stand for the pixels when it sets them; else the plugin
    looks at the pixels. Either way a changed source frame is noticed."""
    inst = make_instance(host, server, frames, "byte", first=0)
    inst.set_unique_ids(unique_ids)
    try:
        for t in range(6):
            assert inst.render(t)[0] == OK
        jobs = len(job_ids(host.log()))
        changed = list(frames)
        changed[2] = photo_frames(frames=6, size=(64, 48), photo="coffee")[2]
        inst.set_sources([changed[2]], first=2)    # an upstream effect changed frame 2
        status, image = inst.render(2)
        assert status == OK
        np.testing.assert_array_equal(image, cartoon_of(server, changed)[2])
        assert len(job_ids(host.log())) == jobs + 1
        # The same pixels handed over again: new identifiers mean new images to a host-id
        # check, while the pixels say nothing changed.
        inst.set_sources([changed[4]], first=4)
        assert inst.render(4)[0] == OK
        assert len(job_ids(host.log())) == jobs + 1 + int(unique_ids)
    finally:
        inst.destroy()


def test_clear_cache_reads_the_clip_again_and_the_server_answers(host, server, frames):
    inst = make_instance(host, server, frames, "byte", first=0)
    try:
        before = [inst.render(t)[1] for t in range(6)]
        with FrameloomClient(server.target) as c:
            job_id = job_ids(host.log())[-1]
            wait_until(lambda: c.get_job(job_id).state == pb.JOB_STATE_SUCCEEDED)
        fetches = inst.source_fetches
        inst.press("clear_cache")
        status, image = inst.render(3)
        assert status == OK and inst.source_fetches == fetches + len(frames)
        assert "from the server's cache" in host.log().splitlines()[-1]
        np.testing.assert_array_equal(image, before[3])
    finally:
        inst.destroy()


def test_purged_frames_come_back_from_the_server(host, server, frames):
    inst = make_instance(host, server, frames, "byte", first=0)
    try:
        before = {t: inst.render(t)[1] for t in range(6)}
        with FrameloomClient(server.target) as c:
            job_id = job_ids(host.log())[-1]
            wait_until(lambda: c.get_job(job_id).state == pb.JOB_STATE_SUCCEEDED)
        assert inst.purge() == OK                # the host is short of memory
        for t in (4, 1, 5):
            status, image = inst.render(t)       # FetchFrames from the server's store
            assert status == OK, inst.message
            np.testing.assert_array_equal(image, before[t])
    finally:
        inst.destroy()


UNLOAD_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import numpy as np
    from pathlib import Path
    from ofx_host import Serve
    from ofx_hostproc import OfxHost   # in this process: it is the host
    from mediafiles import photo_frames

    host = OfxHost(Path({binary!r}), Path({library!r}))
    srv = Serve(Path({tmp!r}))
    frames = photo_frames(frames=6, size=(64, 48))
    done = host.create("byte", 3, 64, 48, 0, 5)
    done.set_sources(frames)
    done.set("server", srv.target)
    assert done.render(0)[0] == 0
    busy = host.create("byte", 3, 64, 48, 0, 5)   # destroyed with its job still running
    busy.set_sources(frames)
    busy.set("server", srv.target)
    busy.choose("style", "diffusion")
    busy.set("model", "builtin:tiny")
    busy.set("steps", 30)
    import threading
    threading.Thread(target=busy.render, args=(3,), daemon=True).start()
    time.sleep(1.0)
    busy.set_abort(True)
    time.sleep(0.3)
    busy.destroy()
    done.destroy()
    assert host.unload() == 0
    srv.stop()
    time.sleep(0.5)            # gRPC's threads, if any were left, would crash the process now
    print("unloaded cleanly")
""")


def test_unload_with_a_job_running_does_not_crash(tmp_path):
    script = UNLOAD_SCRIPT.format(tests=str(ROOT / "tests"), binary=str(build_plugin()),
                                  library=str(build_host()), tmp=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "unloaded cleanly" in proc.stdout


def test_server_killed_or_hung_mid_job(host, frames, tmp_path, serve):
    srv = serve(tmp_path)
    inst = make_instance(host, srv, frames, "byte", style="diffusion", first=0)
    inst.set("model", "builtin:tiny")
    inst.set("steps", 30)
    try:
        result = {}
        worker = threading.Thread(target=lambda: result.update(r=inst.render(2), t=time.monotonic()))
        worker.start()
        time.sleep(1.5)
        assert worker.is_alive()
        srv.proc.kill()
        killed_at = time.monotonic()
        worker.join(15)
        assert result["r"][0] == FAILED and result["t"] - killed_at < 5
        assert "cannot reach the frameloom server" in inst.message, inst.message
    finally:
        inst.destroy()
        srv.stop()
    # A server that accepts connections but never answers: calls time out within seconds.
    (tmp_path / "hung").mkdir()
    hung = serve(tmp_path / "hung")
    inst = make_instance(host, hung, frames, "byte", first=0)
    hung.proc.send_signal(signal.SIGSTOP)
    try:
        t = time.monotonic()
        status, _ = inst.render(0)
        assert status == FAILED and time.monotonic() - t < 10
        assert hung.target in inst.message and ("did not answer in time" in inst.message
                                                or "cannot reach" in inst.message), inst.message
    finally:
        hung.proc.send_signal(signal.SIGCONT)
        inst.destroy()
        hung.stop()
