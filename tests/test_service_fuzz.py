"""Property-based: malformed messages thrown at a live servicer get a clean status code, and the
server keeps serving."""
from __future__ import annotations

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frameloom.jobs.engine import Limits
from frameloom_client import pb
from frameloom_client.v1 import frameloom_pb2_grpc as pb_grpc
from test_service_helpers import RunningServer, clip, spec

# What a malformed request may earn; never INTERNAL, UNKNOWN or a hang.
CLEAN = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED,
         grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
         grpc.StatusCode.FAILED_PRECONDITION}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = RunningServer(tmp_path_factory.mktemp("fuzz"),
                        limits=Limits(max_width=64, max_height=64, max_frames=8, max_in_flight=4))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(server.target)
    yield pb_grpc.FrameloomStub(channel), channel
    channel.close()


def _missing_model() -> pb.JobSpec:
    s = spec("diffusion")
    s.style.diffusion.model = "missing.safetensors"
    return s


headers = st.builds(
    pb.FrameHeader, width=st.integers(-2, 80), height=st.integers(-2, 80),
    channels=st.integers(-1, 5), bit_depth=st.sampled_from([0, 1, 8, 12, 16, 32]),
    encoding=st.integers(0, 3), size=st.integers(-5, 80 * 80 * 8), time=st.floats(allow_nan=True))
chunks = st.builds(pb.FrameChunk, index=st.integers(-3, 10), header=st.none() | headers,
                   offset=st.integers(-3, 30000), data=st.binary(max_size=3000))
valid_frames = st.integers(0, 3).map(
    lambda n: [pb.FrameChunk(index=i, header=pb.FrameHeader(width=8, height=6, channels=3, bit_depth=8,
                                                            encoding=1, size=144),
                             data=bytes(144)) for i in range(n)])
starts = st.builds(
    pb.StreamStart,
    # Diffusion specs are refused before any model loads (an unknown model); the diffusion
    # engine itself is not what this fuzzes.
    spec=st.sampled_from([spec(), spec("filter:oil"), spec("filter:nope"), _missing_model(),
                          pb.JobSpec(style=pb.StyleSpec(kind="filter:cartoon", params={"x": 1.0}))]),
    frame_count=st.integers(-2, 12), first_index=st.integers(-2, 3),
    fps_num=st.integers(-1, 60), fps_den=st.integers(-1, 2),
    result_encoding=st.integers(0, 3), result_bit_depth=st.sampled_from([0, 8, 16, 7]),
    clip_hash=st.sampled_from(["", "deadbeef"]))
requests = st.lists(st.one_of(starts.map(lambda s: pb.StylizeRequest(start=s)),
                              chunks.map(lambda c: pb.StylizeRequest(chunk=c)),
                              st.just(pb.StylizeRequest())), max_size=6)


def _status(call_fn):
    try:
        call_fn()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as err:
        return err.code(), err.details()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(start=starts, body=valid_frames, noise=requests)
def test_malformed_streams_get_clean_errors(stub, start, body, noise):
    s, _ = stub
    msgs = [pb.StylizeRequest(start=start), *(pb.StylizeRequest(chunk=c) for c in body), *noise]
    code, details = _status(lambda: list(s.Stylize(iter(msgs), timeout=20)))
    assert code in CLEAN, (code, details)
    if code != grpc.StatusCode.OK:
        assert details


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(job_id=st.text(max_size=40), states=st.lists(st.integers(-1, 9), max_size=3),
       limit=st.integers(-5, 10**6), depth=st.integers(-1, 17), enc=st.integers(0, 5))
def test_malformed_unary_calls(stub, job_id, states, limit, depth, enc):
    s, _ = stub
    for fn in (lambda: s.GetJob(pb.GetJobRequest(job_id=job_id), timeout=10),
               lambda: s.CancelJob(pb.CancelJobRequest(job_id=job_id), timeout=10),
               lambda: list(s.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=10)),
               lambda: list(s.FetchFrames(pb.FetchFramesRequest(job_id=job_id, bit_depth=depth,
                                                                encoding=enc), timeout=10)),
               lambda: s.ListJobs(pb.ListJobsRequest(states=states, limit=limit), timeout=10),
               lambda: s.SubmitJob(pb.SubmitJobRequest(spec=pb.JobSpec(input=job_id)), timeout=10)):
        code, details = _status(fn)
        assert code in CLEAN, (code, details)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(blob=st.binary(max_size=200))
def test_undecodable_bytes(stub, blob):
    _, channel = stub
    call = channel.stream_stream("/frameloom.v1.Frameloom/Stylize",
                                 request_serializer=lambda b: b, response_deserializer=lambda b: b)
    code, _ = _status(lambda: list(call(iter([blob]), timeout=10)))
    assert code in CLEAN


def test_server_still_serves_after_the_fuzz(server):
    with server.client() as c:
        frames = clip(3, 8, 8)
        out = c.stylize_all(spec(), frames, cache=False)
        for a, b in zip(out, frames):
            np.testing.assert_array_equal(a, b)
