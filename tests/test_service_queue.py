"""The job queue (priorities, one job per device) and health while the engine loads."""
from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest

from frameloom.errors import LimitExceeded
from frameloom.jobs.queue import JobQueue
from frameloom.jobs.engine import Engine, EngineConfig
from frameloom.service.server import FrameloomServer, ServerConfig


def test_priorities_then_submission_order_one_job_per_device():
    ran, gate, running = [], threading.Event(), []
    lock = threading.Lock()

    def run(job_id, device):
        with lock:
            running.append(job_id)
            assert len(running) == 1          # never two jobs on one device
        gate.wait(5)
        ran.append(job_id)
        with lock:
            running.remove(job_id)

    q = JobQueue(["cpu"], run, max_queued=4)
    q.put("first", 0, 1)
    q.start()
    while not q.running():
        time.sleep(0.01)
    q.put("low", 0, 2)
    q.put("high", 5, 3)
    q.put("low2", 0, 4)
    assert [q.position(j) for j in ("high", "low", "low2")] == [0, 1, 2]
    assert q.remove("low2") and q.position("low2") is None
    q.put("a", 0, 5)
    q.put("b", 0, 6)
    with pytest.raises(LimitExceeded):
        q.put("c", 0, 7)
    q.put("c", 0, 7, force=True)              # recovered jobs are never refused
    gate.set()
    deadline = time.monotonic() + 10
    while len(ran) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    q.stop()
    assert ran == ["first", "high", "low", "a", "b", "c"]


class SlowStartEngine(Engine):
    def start(self):
        time.sleep(1.5)    # stands for finding devices and loading models
        super().start()


def test_health_is_not_serving_while_the_engine_loads(tmp_path):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    cfg = EngineConfig(store_dir=str(tmp_path), devices=["cpu"])
    srv = FrameloomServer(ServerConfig(engine=cfg, port=0), engine=SlowStartEngine(cfg))
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    started = asyncio.run_coroutine_threadsafe(srv.start(), loop)
    try:
        while not srv.port:
            time.sleep(0.01)
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            first = stub.Check(health_pb2.HealthCheckRequest(service="frameloom.v1.Frameloom"),
                               wait_for_ready=True, timeout=10)
            assert first.status == health_pb2.HealthCheckResponse.NOT_SERVING
            started.result(30)
            later = stub.Check(health_pb2.HealthCheckRequest(service="frameloom.v1.Frameloom"))
            assert later.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        started.result(30)
        asyncio.run_coroutine_threadsafe(srv.stop(0.5), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
