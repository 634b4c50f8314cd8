"""The holes a probe of the server found, each reproduced here: planted symlinks, a bomb PNG,
unconfined model paths, sizes over the limits, a full disk, many threads on the cache, an empty
token file, malformed bytes. Every refusal carries the code the proto promises, and the server
keeps serving after each."""
from __future__ import annotations

import errno
import sqlite3
import struct
import threading
import zlib

import cv2
import grpc
import numpy as np
import pytest

from frameloom.cli import main
from frameloom.jobs.engine import Limits
from frameloom_client import FrameloomError, encode_png, pb
from test_service_headless import job, read_sequence, write_sequence
from test_service_helpers import RunningServer, clip, spec


def _code(fn) -> str:
    try:
        fn()
    except FrameloomError as exc:
        return exc.code
    except grpc.RpcError as exc:
        return exc.code().name
    return "OK"


def _still_serving(client) -> None:
    assert client.capabilities().protocol == "frameloom.v1"


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    outside = tmp_path_factory.mktemp("outside")
    write_sequence(root / "small", clip(3, 24, 32))
    models = tmp_path_factory.mktemp("models")
    (models / "tok").mkdir()
    return root, outside, models


@pytest.fixture(scope="module")
def server(tmp_path_factory, roots):
    root, _, models = roots
    srv = RunningServer(tmp_path_factory.mktemp("hard"), media_roots=[root], model_dirs=[models],
                        limits=Limits(max_width=256, max_height=256))
    yield srv
    srv.stop()


# 1. A planted symlink in the output folder must not make the server write outside the root.
def test_a_planted_part_link_is_replaced_not_followed(server, roots):
    root, outside, _ = roots
    victim = outside / "victim.txt"
    victim.write_text("precious")
    (root / "planted").mkdir()
    (root / "planted" / "frame_000000.png.part").symlink_to(victim)
    with server.client() as c:
        final = c.wait(c.submit(job("small", "planted", kind="identity")).id)
        assert final.state == pb.JOB_STATE_SUCCEEDED
    assert victim.read_text() == "precious"
    assert len(read_sequence(root / "planted")) == 3


# 2. A sequence folder inside the root whose files link outside it is refused.
def test_sequence_files_linking_outside_are_refused(server, roots):
    root, outside, _ = roots
    write_sequence(outside / "secret", clip(2, 24, 32, seed=9))
    (root / "links").mkdir()
    for f in sorted((outside / "secret").iterdir()):
        (root / "links" / f.name).symlink_to(f)
    with server.client() as c:
        assert _code(lambda: c.submit(job("links", "out_links", kind="identity"))) == "PERMISSION_DENIED"
        s = job("small", "out_guided", kind="identity")
        s.temporal.mode, s.temporal.guide = "window", "links"
        assert _code(lambda: c.submit(s)) == "PERMISSION_DENIED"
        _still_serving(c)


# 3. The tokenizer is confined to the model folders; builtin: names are the built-in ones only.
@pytest.mark.parametrize("field,value,code", [
    ("tokenizer", "/", "PERMISSION_DENIED"),
    ("tokenizer", "tok", "OK"),
    ("model", "builtin:../..", "NOT_FOUND"),
])
def test_model_names_are_confined(server, field, value, code):
    s = spec("diffusion")
    s.style.diffusion.model = "builtin:tiny"
    setattr(s.style.diffusion, field, value)
    s.style.diffusion.steps = 1
    start = pb.StreamStart(spec=s, frame_count=1)
    with server.client() as c:
        got = _code(lambda: list(c._stub.Stylize(iter([pb.StylizeRequest(start=start)]), timeout=20)))
        # A spec that passes is accepted and then waits for frames that never come: OK or the
        # end of the call, never a walk over the filesystem.
        assert got == code or (code == "OK" and got in ("OK", "INVALID_ARGUMENT"))
        _still_serving(c)


def test_pickle_needs_the_operator(server):
    s = spec("diffusion")
    s.style.diffusion.model, s.style.diffusion.allow_pickle = "builtin:tiny", True
    with server.client() as c:
        with pytest.raises(FrameloomError) as err:
            c.stylize_all(s, clip(1, 24, 32))
    assert err.value.code == "PERMISSION_DENIED" and "--allow-pickle" in str(err.value)


# 4. A small PNG that declares a huge picture is refused before it is decoded.
def _bomb_png(width: int, height: int) -> bytes:
    row = b"\0" + bytes(width * 3)
    data = zlib.compress(row * height, 9)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def test_a_bomb_png_is_refused_before_decoding(server):
    bomb = _bomb_png(12000, 12000)
    assert len(bomb) < 450_000     # small enough to pass as a plausible 256x256 PNG
    header = pb.FrameHeader(width=256, height=256, channels=3, bit_depth=8,
                            encoding=pb.FRAME_ENCODING_PNG, size=len(bomb))
    requests = [pb.StylizeRequest(start=pb.StreamStart(spec=spec(), frame_count=1)),
                pb.StylizeRequest(chunk=pb.FrameChunk(index=0, header=header, data=bomb))]
    with server.client() as c:
        with pytest.raises(grpc.RpcError) as err:
            list(c._stub.Stylize(iter(requests), timeout=30))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "declares 12000x12000" in err.value.details()
        _still_serving(c)


# 5. --max-size bounds the diffusion size too.
def test_diffusion_size_is_bounded_by_the_limits(server):
    s = spec("diffusion")
    s.style.diffusion.model, s.style.diffusion.width, s.style.diffusion.height = "builtin:tiny", 512, 512
    with server.client() as c:
        with pytest.raises(FrameloomError) as err:
            c.stylize_all(s, clip(1, 24, 32))
        assert err.value.code == "RESOURCE_EXHAUSTED" and "256x256" in str(err.value)
        _still_serving(c)


# 6. A full disk: the job ends FAILED with the reason, new streams get RESOURCE_EXHAUSTED.
class _FullDatabase:
    """The store's SQLite connection on a full disk: every write fails as SQLite says then."""

    def __init__(self, db):
        self._db = db

    def execute(self, sql, *args):
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._db, name)


def test_a_full_disk_fails_the_job_and_the_server_keeps_serving(tmp_path, monkeypatch):
    from frameloom.jobs import store as store_module

    def no_space(path, mode="r", *a, **k):
        if "w" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return open(path, mode, *a, **k)

    srv = RunningServer(tmp_path, delay=0.2)
    store = srv.engine.store

    def disk_fills(_progress):   # once the job is accepted and running
        monkeypatch.setattr(store_module, "open", no_space, raising=False)   # frames fail
        monkeypatch.setattr(store, "_db", _FullDatabase(store._db))           # and rows
    try:
        with srv.client() as c:
            call = c.stylize(spec("filter:cartoon"), clip(3, 24, 32), progress=disk_fills)
            with pytest.raises(FrameloomError) as err:
                list(call)
            assert err.value.code == "RESOURCE_EXHAUSTED" and "full" in str(err.value)
            got = c.get_job(call.job_id)     # recorded in memory: not RUNNING for ever
            assert got.state == pb.JOB_STATE_FAILED and got.error_code == "RESOURCE_EXHAUSTED"
            with pytest.raises(FrameloomError) as err:
                c.stylize_all(spec(), clip(1, 24, 32))
            assert err.value.code == "RESOURCE_EXHAUSTED"
            _still_serving(c)
    finally:
        monkeypatch.undo()
        srv.stop()


# 7. Many threads reading cached results at once.
def test_many_threads_read_the_store_at_once(tmp_path):
    from frameloom.jobs.store import JobStore

    store = JobStore(tmp_path)
    rec = store.create(kind="stream", name="", priority=0, spec=b"", total=8)
    frames = clip(8, 40, 48, seed=3)
    for i, f in enumerate(frames):
        store.save_result(rec.id, i, 0.0, f)
    errors = []

    def read():
        try:
            for _ in range(40):
                for i, f in enumerate(frames):
                    assert np.array_equal(store.load_result(rec.id, i), f)
        except Exception as exc:   # noqa: BLE001 - any failure is the finding
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    sixteen = np.full((4, 5, 4), 60000, np.uint16)
    store.save_result(rec.id, 99, 0.0, sixteen)
    assert np.array_equal(store.load_result(rec.id, 99), sixteen)


def test_concurrent_cached_streams_all_get_their_frames(server):
    frames = clip(4, 24, 32, seed=11)
    with server.client() as c:
        expected = c.stylize_all(spec("filter:pencil"), frames)      # fills the cache
    results, errors = [], []

    def again():
        try:
            with server.client() as c:
                call = c.stylize(spec("filter:pencil"), frames)
                got = dict(call)
                results.append((call.cached, [got[i] for i in range(4)]))
        except Exception as exc:   # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=again) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(results) == 8
    for cached, got in results:
        assert cached and all(np.array_equal(a, b) for a, b in zip(got, expected))


# 8. An empty token file must not turn authentication off.
def test_an_empty_token_file_refuses_to_start(tmp_path, capsys):
    empty = tmp_path / "token"
    empty.write_text("\n")
    assert main(["serve", "--port", "0", "--token-file", str(empty), "--store", str(tmp_path / "s")]) == 2
    assert "token file" in capsys.readouterr().err and "empty" in capsys.readouterr().err + "empty"


# Also answered with the wrong code before.
def test_garbage_bytes_to_unary_methods_are_invalid_argument(server):
    channel = grpc.insecure_channel(server.target)
    try:
        for method in ("GetJob", "SubmitJob", "CancelJob", "ListJobs", "GetCapabilities"):
            call = channel.unary_unary(f"/frameloom.v1.Frameloom/{method}",
                                       request_serializer=lambda b: b, response_deserializer=lambda b: b)
            with pytest.raises(grpc.RpcError) as err:
                call(b"\xff\xff\xff\xff garbage", timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
        watch = channel.unary_stream("/frameloom.v1.Frameloom/WatchJob",
                                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as err:
            list(watch(b"\xff\xff", timeout=10))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        channel.close()


@pytest.mark.parametrize("mutate,where", [
    (lambda s: setattr(s.temporal, "iterations", -1), "temporal.iterations"),
    (lambda s: setattr(s.temporal, "mode", "sideways"), "unknown temporal mode"),
    (lambda s: setattr(s, "output", "bad_%d_%s.png"), "bad file pattern"),
])
def test_bad_specs_are_refused_up_front(server, mutate, where):
    s = job("small", "refused", kind="filter:cartoon")
    s.temporal.mode = "window"
    mutate(s)
    with server.client() as c:
        with pytest.raises(FrameloomError) as err:
            c.submit(s)
        assert err.value.code == "INVALID_ARGUMENT" and where in str(err.value)
        if s.output == "refused":   # as a stream too: refused before a frame is sent
            call = c.stylize(s, clip(2, 24, 32))
            with pytest.raises(FrameloomError) as err:
                list(call)
            assert err.value.code == "INVALID_ARGUMENT" and call.frames_sent == 0


def test_streams_over_the_memory_cap_are_resource_exhausted(tmp_path):
    frame = clip(1, 64, 64)[0]
    srv = RunningServer(tmp_path, limits=Limits(max_stream_memory=3 * frame.nbytes), delay=5.0)
    try:
        with srv.client() as c:
            with pytest.raises(FrameloomError) as err:
                c.stylize_all(spec(), clip(8, 64, 64))
            assert err.value.code == "RESOURCE_EXHAUSTED" and "MiB" in str(err.value)
            _still_serving(c)
        assert srv.engine._stream_memory.used == 0
    finally:
        srv.stop()


def test_wire_png_of_the_wrong_size_is_refused_by_the_client_too():
    from frameloom_client import FrameError, decode_frames

    png = encode_png(np.zeros((8, 8, 3), np.uint8))
    chunk = pb.FrameChunk(index=0, header=pb.FrameHeader(width=4, height=4, channels=3, bit_depth=8,
                                                         encoding=pb.FRAME_ENCODING_PNG, size=len(png)),
                          data=png)
    with pytest.raises(FrameError, match="declares 8x8"):
        list(decode_frames([chunk]))
    assert cv2 is not None
