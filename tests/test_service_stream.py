"""Streaming clips through a real server on loopback (in-process grpc.aio on a free port)."""
from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest

from frameloom.jobs.engine import Limits
from frameloom_client import (Cancelled, FrameloomError, encode_frame, encode_png, pb)
from frameloom_client.v1 import frameloom_pb2_grpc as pb_grpc
from test_service_helpers import RunningServer, clip, local_run, spec, wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = RunningServer(tmp_path_factory.mktemp("stream"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with server.client() as c:
        yield c


def test_capabilities(client):
    caps = client.capabilities()
    assert caps.protocol == "frameloom.v1" and caps.engine_version
    assert "identity" in caps.styles and "filter:cartoon" in caps.styles
    assert [d.name for d in caps.devices] == ["cpu"]
    assert caps.limits.max_message_bytes == 4 * 1024 * 1024
    assert any(m.name == "builtin:tiny" for m in caps.models)


@pytest.mark.parametrize("kind,params", [("identity", {}), ("filter:cartoon", {}),
                                         ("filter:pencil", {})])
def test_stream_equals_local_run(client, kind, params):
    frames = clip(5)
    job = spec(kind, **params)
    progress = []
    call = client.stylize(job, frames, progress=progress.append, cache=False)
    got = dict(call)
    assert call.job.state == pb.JOB_STATE_SUCCEEDED and call.job.done == 5
    want = local_run(job, frames)
    assert sorted(got) == list(range(5))
    for i in range(5):
        np.testing.assert_array_equal(got[i], want[i])
    assert progress and progress[-1].total == 5


def test_deflicker_window_equals_local_run(client):
    frames = clip(4, 24, 32)
    job = spec("filter:cartoon")
    job.temporal.mode = "window"
    job.temporal.window = 1
    job.temporal.iterations = 1     # the CPU deflicker is slow; the point is equality
    got = client.stylize_all(job, frames, cache=False)
    for a, b in zip(got, local_run(job, frames)):
        np.testing.assert_array_equal(a, b)


def test_png_and_16bit_rgba_round_trip(client):
    frames = clip(3, 40, 56, channels=4, dtype=np.uint16)
    got = client.stylize_all(spec(), frames, encoding="png", cache=False)
    want = local_run(spec(), frames, bit_depth=16)
    for g, w, f in zip(got, want, frames):
        assert g.dtype == np.uint16 and g.shape == (40, 56, 4)
        np.testing.assert_array_equal(g[:, :, :3], w)
        np.testing.assert_array_equal(g[:, :, 3], f[:, :, 3])   # alpha passes through
    got8 = client.stylize_all(spec(), frames, result_bit_depth=8, result_encoding="raw", cache=False)
    assert got8[0].dtype == np.uint8 and got8[0].shape == (40, 56, 4)


def test_1080p_rgba_frames_are_chunked_under_4mib(client):
    frames = clip(2, 1080, 1920, channels=4)
    chunks = list(encode_frame(0, frames[0]))
    # An 8.3 MB frame needs at least two messages; each, as sent (inside a StylizeRequest or a
    # StylizeResponse), must stay under gRPC's 4 MiB default.
    assert len(chunks) >= 2 and max(c.ByteSize() for c in chunks) < 4 * 1024 * 1024
    assert max(pb.StylizeRequest(chunk=c).ByteSize() for c in chunks) < 4 * 1024 * 1024
    assert max(pb.StylizeResponse(chunk=c).ByteSize() for c in chunks) < 4 * 1024 * 1024
    got = client.stylize_all(spec(), frames, cache=False)
    for g, f in zip(got, frames):
        np.testing.assert_array_equal(g, f)


def test_clip_cache_answers_repeat_requests(client, server):
    frames = clip(4, seed=7)
    first = client.stylize(spec("filter:oil"), frames)
    out1 = dict(first)
    assert not first.cached
    again = client.stylize(spec("filter:oil"), frames)
    out2 = dict(again)
    assert again.cached and again.frames_sent == 0 and again.clip_id == first.clip_id
    for i in out1:
        np.testing.assert_array_equal(out1[i], out2[i])
    other = client.stylize(spec("filter:oil"), clip(4, seed=8))   # other pixels: no hit
    dict(other)
    assert not other.cached


def test_results_arrive_before_all_frames_are_sent(client):
    frames = clip(12)
    first_result = threading.Event()
    seen_before_end = []

    def gen():
        for i, f in enumerate(frames):
            if i == 10:
                # Identity batches 8 frames: their results must come back while we hold the rest.
                seen_before_end.append(first_result.wait(20))
            yield f

    call = client.stylize(spec(), gen(), frame_count=12, cache=False)
    got = []
    for index, _ in call:
        first_result.set()
        got.append(index)
    assert seen_before_end == [True] and sorted(got) == list(range(12))


def test_fetch_after_stream_and_job_listing(client):
    frames = clip(3, seed=3)
    call = client.stylize(spec(), frames, cache=False)
    dict(call)
    fetched = dict(client.fetch(call.job_id, encoding="png"))
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(fetched[i], f)
    ids = [j.id for j in client.list_jobs(states=[pb.JOB_STATE_SUCCEEDED])]
    assert call.job_id in ids


def test_eight_clients_at_once(server):
    results, errors = {}, []

    def one(k):
        try:
            with server.client() as c:
                frames = clip(4, 24, 32, seed=100 + k)
                got = c.stylize_all(spec("filter:pencil"), frames, cache=False)
                results[k] = all(np.array_equal(a, b) for a, b in
                                 zip(got, local_run(spec("filter:pencil"), frames)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=one, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 8 and all(results.values())


# ---- faults -------------------------------------------------------------------------------------

def _expect(code, fn):
    with pytest.raises(FrameloomError) as info:
        fn()
    assert info.value.code == code, (info.value.code, str(info.value))
    assert str(info.value)           # a message a person can read
    return info.value


def test_oversized_frame_is_resource_exhausted(tmp_path):
    srv = RunningServer(tmp_path, limits=Limits(max_width=64, max_height=64, max_frames=10))
    try:
        with srv.client() as c:
            err = _expect("RESOURCE_EXHAUSTED", lambda: c.stylize_all(spec(), clip(2, 65, 80), cache=False))
            assert "64x64" in str(err)
            _expect("RESOURCE_EXHAUSTED", lambda: c.stylize_all(spec(), clip(11, 8, 8), cache=False))
            # The server is still fine.
            assert len(c.stylize_all(spec(), clip(2, 8, 8), cache=False)) == 2
    finally:
        srv.stop()


def test_frame_sizes_that_disagree(client):
    frames = clip(3) + clip(1, 40, 64)
    err = _expect("INVALID_ARGUMENT", lambda: client.stylize_all(spec(), frames, cache=False))
    assert "frame 3" in str(err) and "agree" in str(err)


def _raw_stream(server, requests):
    channel = grpc.insecure_channel(server.target)
    try:
        stub = pb_grpc.FrameloomStub(channel)
        return list(stub.Stylize(iter(requests), timeout=30))
    finally:
        channel.close()


def _start(n=1, **kw):
    return pb.StylizeRequest(start=pb.StreamStart(spec=spec(), frame_count=n, **kw))


def test_corrupt_png_chunk(server):
    png = bytearray(encode_png(clip(1)[0][:, :, :3]))
    png[60] ^= 0xFF   # inside IDAT: the CRC no longer matches
    header = pb.FrameHeader(width=64, height=48, channels=3, bit_depth=8,
                            encoding=pb.FRAME_ENCODING_PNG, size=len(png))
    reqs = [_start(), pb.StylizeRequest(chunk=pb.FrameChunk(index=0, header=header, data=bytes(png)))]
    with pytest.raises(grpc.RpcError) as info:
        _raw_stream(server, reqs)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "PNG" in info.value.details()


def test_message_over_4mib_is_refused(server):
    big = pb.FrameChunk(index=0, header=pb.FrameHeader(width=1500, height=1000, channels=3,
                                                       bit_depth=8, size=4_500_000),
                        data=b"\0" * 4_500_000)
    with pytest.raises(grpc.RpcError) as info:
        _raw_stream(server, [_start(), pb.StylizeRequest(chunk=big)])
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_first_message_must_be_start(server):
    chunk = next(encode_frame(0, clip(1)[0]))
    with pytest.raises(grpc.RpcError) as info:
        _raw_stream(server, [pb.StylizeRequest(chunk=chunk)])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_too_few_frames(server):
    chunks = [pb.StylizeRequest(chunk=c) for c in encode_frame(0, clip(1)[0])]
    with pytest.raises(grpc.RpcError) as info:
        _raw_stream(server, [_start(3), *chunks])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1 of the 3" in info.value.details()


def test_unknown_model_and_style(client):
    job = spec("diffusion")
    job.style.diffusion.model = "no-such-model.safetensors"
    err = _expect("NOT_FOUND", lambda: client.stylize_all(job, clip(1), cache=False))
    assert "no-such-model" in str(err)
    _expect("INVALID_ARGUMENT", lambda: client.stylize_all(spec("filter:nope"), clip(1), cache=False))
    _expect("INVALID_ARGUMENT", lambda: client.stylize_all(spec("filter:cartoon", nope=1.0), clip(1),
                                                           cache=False))


def test_unknown_job(client):
    _expect("NOT_FOUND", lambda: client.get_job("nope"))
    _expect("NOT_FOUND", lambda: client.cancel_job("nope"))
    _expect("NOT_FOUND", lambda: list(client.fetch("nope")))


# ---- cancel -------------------------------------------------------------------------------------

@pytest.fixture()
def slow_server(tmp_path):
    srv = RunningServer(tmp_path, delay=0.05)
    yield srv
    srv.stop()


def test_cancel_mid_job_from_another_thread(slow_server):
    with slow_server.client() as c:
        call = c.stylize(spec(), clip(200, 16, 16), cache=False)
        got = []

        def consume():
            try:
                for item in call:
                    got.append(item[0])
            except Cancelled:
                got.append("cancelled")

        t = threading.Thread(target=consume)
        t.start()
        wait_until(lambda: len(got) >= 3)
        call.cancel()
        t.join(10)
        assert got[-1] == "cancelled"
        job = wait_until(lambda: (j := c.get_job(call.job_id)).state == pb.JOB_STATE_CANCELLED and j)
        assert job.done < 200
        # The device is free again: the next job runs.
        assert len(c.stylize_all(spec(), clip(2, 8, 8), cache=False)) == 2


def test_client_disconnect_cancels_the_job(slow_server):
    c = slow_server.client()
    call = c.stylize(spec(), clip(200, 16, 16), cache=False)
    it = iter(call)
    next(it)
    job_id = call.job_id
    c.close()     # the client goes away without a word
    with slow_server.client() as other:
        job = wait_until(lambda: (j := other.get_job(job_id)).state == pb.JOB_STATE_CANCELLED and j)
        assert job.done < 200
        stylizers_done = job.done
        time.sleep(0.3)
        assert other.get_job(job_id).done == stylizers_done


def test_waiting_clients_see_their_queue_position(slow_server):
    with slow_server.client() as c:
        first = c.stylize(spec(), clip(30, 8, 8), cache=False)
        it = iter(first)
        next(it)
        positions = []
        second = c.stylize(spec(), clip(2, 8, 8), cache=False,
                           progress=lambda p: positions.append((p.state, p.queue_position)))
        t = threading.Thread(target=lambda: dict(second))
        t.start()
        wait_until(lambda: positions)
        assert positions[0] == (pb.JOB_STATE_QUEUED, 0)
        first.cancel()
        t.join(30)
        assert second.job.state == pb.JOB_STATE_SUCCEEDED
