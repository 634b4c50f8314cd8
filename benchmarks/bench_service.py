"""gRPC service benchmark: 1080p frames through a streaming identity job on loopback, against the
same job run in-process through the one runner.

    python benchmarks/bench_service.py              # 24 frames x 3 repeats
    FRAMELOOM_THREADS=1 python benchmarks/bench_service.py   # the in-process job on the server's threads
    python benchmarks/bench_service.py --frames 8 --repeats 1   # smoke run

The in-process baseline is what the server does per frame minus the wire: frames as uint8 arrays
-> runner (identity) -> uint8 results. The server rows add chunking, protobuf and loopback
transport both ways, persisting each finished frame to the job store (on a writer thread) and,
with the cache on, hashing the clip on both sides. "client only" is the client's own share with no
server: building and serializing the request messages, parsing the replies and reassembling the
frames. Times are medians over repeats; the load average is printed because the machine is shared.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from frameloom import allocator

if __name__ == "__main__":   # the allocator settings the frameloom command (and so the server) has
    allocator.reexec_with_tunables()

import numpy as np  # noqa: E402

from frameloom.frames import from_float  # noqa: E402
from frameloom.jobs.runner import run_job
from frameloom.media import ArraySource
from frameloom_client import FrameAssembler, FrameloomClient, chunk_fields, clip_hash, pb


def make_frames(n: int, h: int, w: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return [np.roll(base, 4 * i, axis=1) for i in range(n)]


def identity_spec(kind: str = "identity") -> pb.JobSpec:
    s = pb.JobSpec(name="bench", style=pb.StyleSpec(kind=kind))
    s.temporal.mode = "none"
    return s


def in_process(frames, kind: str = "identity", label: str = "in-process (runner only)") -> float:
    out = []

    class Sink:
        def write(self, frame):
            out.append(from_float(frame.image, np.uint8))

        def close(self):
            pass

    t, c = time.perf_counter(), time.process_time()
    run_job(identity_spec(kind), ArraySource(frames), Sink())
    dt = time.perf_counter() - t
    CPU.setdefault(label, []).append(1000 * (time.process_time() - c) / len(frames))
    assert len(out) == len(frames)
    return dt


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU: dict[str, list[float]] = {}   # run -> CPU ms per frame, client + server


def through_server(client, frames, server_pid: int | None = None, label: str = "", **kw) -> float:
    c0, s0 = time.process_time(), process_cpu(server_pid) if server_pid else 0.0
    t = time.perf_counter()
    got = client.stylize_all(identity_spec(), frames, **kw)
    dt = time.perf_counter() - t
    if server_pid and label:
        cpu = (time.process_time() - c0) + (process_cpu(server_pid) - s0)
        CPU.setdefault(label, []).append(1000 * cpu / len(frames))
    assert len(got) == len(frames) and np.array_equal(got[-1], frames[-1])
    return dt


def client_only(frames) -> float:
    """The client's CPU per clip without a server: what it does to send each frame and to take
    the same frame back (the server's replies are the same chunks in a StylizeResponse)."""
    replies = [pb.StylizeResponse(chunk=f).SerializeToString() for f in chunk_fields(0, frames[0])]
    t = time.perf_counter()
    assembler = FrameAssembler()
    for i, image in enumerate(frames):
        for fields in chunk_fields(i, image):
            pb.StylizeRequest(chunk=fields).SerializeToString()
        for wire in replies:
            assembler.feed(pb.StylizeResponse.FromString(wire).chunk)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="1920x1080")
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    frames = make_frames(args.frames, h, w)

    tmp = Path(tempfile.mkdtemp(prefix="frameloom-bench-"))
    # The server is its own process (`frameloom serve`), as in use: client and server do not
    # share a GIL.
    server = subprocess.Popen([sys.executable, "-m", "frameloom.cli", "serve", "--port", "0",
                               "--port-file", str(tmp / "port"), "--store", str(tmp / "store"),
                               "--device", "cpu", "--log-level", "warning", "--threads", "1"])
    while not (tmp / "port").exists():
        if server.poll() is not None:
            raise SystemExit("the server did not start")
        time.sleep(0.1)
    client = FrameloomClient(f"127.0.0.1:{(tmp / 'port').read_text()}")

    rows: dict[str, list[float]] = {}
    load_before = os.getloadavg()
    through_server(client, frames[:2], cache=False)   # warm up: connection, imports
    in_process(frames[:2])
    for r in range(args.repeats):
        rows.setdefault("in-process (runner only)", []).append(in_process(frames))
        rows.setdefault("server, raw, no cache", []).append(
            through_server(client, frames, server.pid, "server, raw, no cache", cache=False))
        fresh = [np.roll(f, r + 1, axis=0) for f in frames]   # new pixels: a cache miss
        rows.setdefault("server, raw, cache on (hash both sides)", []).append(
            through_server(client, fresh, cache=True))
        del fresh
        t = time.perf_counter()
        clip_hash(frames)
        rows.setdefault("  of which: client clip hash", []).append(time.perf_counter() - t)
        rows.setdefault("server, cached replay", []).append(through_server(client, frames, cache=True))
        rows.setdefault("client only: messages both ways, no server", []).append(client_only(frames))
    cartoon = [1000 * in_process(frames[:4], "filter:cartoon", "in-process filter:cartoon job")
               / 4 for _ in range(args.repeats)]
    png_frames = frames[: max(2, args.frames // 4)]
    png = [through_server(client, png_frames, cache=False, encoding="png") * len(frames) / len(png_frames)
           for _ in range(max(1, args.repeats // 2))]
    rows["server, PNG both ways (scaled)"] = png

    base = statistics.median(rows["in-process (runner only)"])
    print(f"\n{args.frames} frames {w}x{h} RGB8, identity, {args.repeats} repeats, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
          f"{load_before[0]:.1f} before / {os.getloadavg()[0]:.1f} after\n")
    print(f"| {'run':42s} | {'median s':>8s} | {'fps':>7s} | {'vs in-process':>13s} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 9}|{'-' * 15}|")
    for name, times in rows.items():
        med = statistics.median(times)
        print(f"| {name:42s} | {med:8.3f} | {args.frames / med:7.1f} | {med / base:12.2f}x |")
    inproc = statistics.median(CPU["in-process (runner only)"])
    print("\nCPU per frame (ms, every thread of client and server; median):\n")
    print("| run | CPU ms/frame | added to the in-process job |\n|---|---|---|")
    for name, values in CPU.items():
        med = statistics.median(values)
        print(f"| {name} | {med:.1f} | {med - inproc:+.1f} |")
    added = statistics.median(CPU["server, raw, no cache"]) - inproc
    cartoon_cpu = statistics.median(CPU["in-process filter:cartoon job"])
    print(f"\nWhat the server and client add to a streamed frame (raw, no cache): {added:.1f} ms CPU; "
          f"{100 * added / inproc:.0f}% of the identity job's own CPU ({inproc:.1f} ms), "
          f"{100 * added / cartoon_cpu:.1f}% of a filter:cartoon job's ({cartoon_cpu:.0f} ms CPU, "
          f"{statistics.median(cartoon):.0f} ms wall per frame, no deflicker).")
    client.close()
    server.terminate()
    server.wait(30)


if __name__ == "__main__":
    sys.exit(main())
