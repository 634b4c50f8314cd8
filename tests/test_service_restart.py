"""A client rides out a server that is starting or restarting: calls wait, retries are safe."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from frameloom.jobs.engine import Engine
from frameloom_client import FrameloomClient, FrameloomError, pb
from test_service_headless import job, read_sequence, write_sequence
from test_service_helpers import RunningServer, clip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlowStartEngine(Engine):
    def start(self) -> None:
        time.sleep(1.5)   # finding devices and requeueing jobs can take seconds
        super().start()


def test_a_call_while_the_server_starts_waits_instead_of_failing(tmp_path):
    port = free_port()
    holder = {}
    starter = threading.Thread(target=lambda: holder.update(
        srv=RunningServer(tmp_path, port=port, engine_class=SlowStartEngine)))
    starter.start()
    try:
        with FrameloomClient(f"127.0.0.1:{port}", ready_timeout=10) as client:
            t0 = time.monotonic()
            caps = client.capabilities()      # the port opens first, the engine later
            assert caps.protocol == "frameloom.v1"
            assert time.monotonic() - t0 < 10
    finally:
        starter.join(30)
        holder["srv"].stop()


def test_no_server_is_a_quick_clear_error():
    with FrameloomClient(f"127.0.0.1:{free_port()}", ready_timeout=1) as client:
        t0 = time.monotonic()
        with pytest.raises(FrameloomError) as err:
            client.capabilities()
    assert err.value.code == "UNAVAILABLE" and "no frameloom server" in str(err.value)
    assert time.monotonic() - t0 < 5


def test_wait_survives_a_restart_and_the_job_resumes(tmp_path):
    media = tmp_path / "media"
    write_sequence(media / "shot", clip(8, 32, 40))
    port = free_port()
    first = RunningServer(tmp_path, media_roots=[media], delay=0.3, port=port)
    result = {}
    with FrameloomClient(first.target, ready_timeout=30) as client:
        submitted = client.submit(job("shot", "out"))
        waiter = threading.Thread(target=lambda: result.update(job=client.wait(submitted.id)))
        waiter.start()
        while client.get_job(submitted.id).done < 2:
            time.sleep(0.05)
        first.stop()             # a graceful restart: the job stops and stays queued
        time.sleep(1.0)
        second = RunningServer(tmp_path, media_roots=[media], port=port)
        try:
            waiter.join(60)
            assert not waiter.is_alive()
            final = result["job"]
            assert final.state == pb.JOB_STATE_SUCCEEDED and final.done == 8
            assert len(read_sequence(media / "out")) == 8
        finally:
            second.stop()


def test_a_repeated_submission_makes_one_job(tmp_path):
    media = tmp_path / "media"
    write_sequence(media / "shot", clip(3, 24, 32))
    server = RunningServer(tmp_path, media_roots=[media])
    try:
        with server.client() as client:
            a = client.submit(job("shot", "out"), request_id="render01-sh010-try1")
            b = client.submit(job("shot", "out"), request_id="render01-sh010-try1")
            c = client.submit(job("shot", "out2"))
            assert a.id == b.id != c.id
            assert len(client.list_jobs()) == 2
    finally:
        server.stop()
