"""Driving the OpenFX plugin as a host does, for the tests and the benchmark.

The host itself is C++ (tests/ofxhost): the OFX suites are C functions with varargs
(``paramGetValue``, ``message``) that ctypes cannot implement portably, and render threads must
run without the GIL, as a host's do. This module builds it and the plugin with CMake into build/
(when missing or stale), runs it in its own process (ofx_hostproc.py) behind small proxies, and
starts ``frameloom serve`` on loopback. No tests here.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import platform
import secrets
import signal
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Client
from pathlib import Path

import numpy as np

from ofx_hostproc import FAILED, OK, HostError
from test_service_helpers import wait_until

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
BUNDLE = BUILD / "ofx" / "frameloom.ofx.bundle"
FRAMELOOM = [sys.executable, "-m", "frameloom.cli"]

__all__ = ["BUNDLE", "FAILED", "OK", "HostError", "OfxHost", "Serve", "build_host", "build_plugin",
           "decode", "load_host", "servers", "stylize_cli"]


class BuildError(RuntimeError):
    pass


NEEDS = ("the OpenFX plugin builds with cmake, make, g++, pkg-config, libgrpc++-dev, libprotobuf-dev, "
         "protobuf-compiler and protobuf-compiler-grpc (see the README's OpenFX section)")


def _cmake_build(source: Path, build: Path, *extra: str) -> None:
    cmake = shutil.which("cmake")
    if cmake is None:
        raise BuildError(f"cmake is not installed: {NEEDS}")
    steps = [[cmake, "-S", str(source), "-B", str(build), *extra]] \
        if not (build / "CMakeCache.txt").exists() else []
    steps.append([cmake, "--build", str(build), "-j", str(min(4, os.cpu_count() or 2))])
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise BuildError(f"{' '.join(cmd)} failed; {NEEDS}:\n{(proc.stdout + proc.stderr)[-4000:]}")


def arch_folder() -> str:
    system, machine = platform.system(), platform.machine()
    if system == "Darwin":
        return "MacOS"
    if system == "Windows":
        return "Win64"
    return "Linux-x86-64" if machine in ("x86_64", "AMD64") else f"Linux-{machine}"


def build_plugin() -> Path:
    """``cmake -S bridge/ofx -B build/ofx && cmake --build build/ofx`` (what the README says);
    returns the plugin binary inside the bundle."""
    _cmake_build(ROOT / "bridge" / "ofx", BUILD / "ofx")
    binary = BUNDLE / "Contents" / arch_folder() / "frameloom.ofx"
    if not binary.exists():
        raise BuildError(f"the build left no {binary}")
    return binary


def build_host() -> Path:
    _cmake_build(ROOT / "tests" / "ofxhost", BUILD / "ofxhost")
    names = {"Darwin": "libframeloom_ofxhost.dylib", "Windows": "frameloom_ofxhost.dll"}
    return BUILD / "ofxhost" / names.get(platform.system(), "libframeloom_ofxhost.so")


class HostProcess:
    """The test host (and the plugin in it) running in its own process; see ofx_hostproc.py
    for why. Each thread of the tests talks to it over its own connection."""

    def __init__(self, binary: Path, library: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="frameloom-ofxhost-"))
        self.address = str(self.dir / "socket")
        self.key = secrets.token_hex(16)
        self.stderr = open(self.dir / "stderr.txt", "w+b")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("ofx_hostproc.py")), self.address,
             str(binary), str(library)],
            env={**os.environ, "FRAMELOOM_OFXHOST_KEY": self.key}, stdout=subprocess.PIPE,
            stderr=self.stderr)
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            raise HostError(f"the OFX test host did not start:\n{self.died()}")
        self._local = threading.local()
        atexit.register(self.close)

    def died(self) -> str:
        code = self.proc.poll()
        self.stderr.seek(0)
        tail = self.stderr.read()[-4000:].decode(errors="replace")
        return f"exit status {code}\n{tail}" if code is not None else tail

    def call(self, target, name: str, *args, **kwargs):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = Client(self.address, family="AF_UNIX", authkey=self.key.encode())
        try:
            conn.send((target, name, args, kwargs))
            reply = conn.recv()
        except (EOFError, OSError):
            self.proc.wait(10)
            raise HostError(f"the OFX test host process died ({name}): {self.died()}") from None
        if reply[0] == "error":
            raise HostError(f"{reply[1]}\n{reply[2]}")
        return reply[1]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class OfxHost:
    """The plugin loaded into the test host, in the host's process."""

    def __init__(self, process: HostProcess):
        self.process = process

    def describe(self) -> dict:
        return self.process.call("host", "describe")

    def log(self) -> str:
        return self.process.call("host", "log")

    @property
    def property_errors(self) -> int:
        return self.process.call("host", "property_errors")

    @property
    def images_outstanding(self) -> int:
        return self.process.call("host", "images_outstanding")

    @property
    def memory_blocks(self) -> int:
        return self.process.call("host", "memory_blocks")

    def create(self, depth: str, channels: int, width: int, height: int, first: float, last: float,
               fps: float = 24.0) -> "Instance":
        _, key, depth, channels = self.process.call("host", "create", depth, channels, width, height,
                                                    first, last, fps)
        return Instance(self.process, key, depth, channels)

    def unload(self) -> int:
        return self.process.call("host", "unload")


class Instance:
    """One filter-context instance in the host process; its methods are ofx_hostproc.Instance's
    (set_sources, set, choose, set_key, press, render, set_abort, purge, destroy, ...)."""

    def __init__(self, process: HostProcess, key: int, depth: str, channels: int):
        self._process, self._key = process, key
        self.depth, self.channels = depth, channels

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: self._process.call(self._key, name, *args, **kwargs)

    @property
    def message(self) -> str:
        return self._process.call(self._key, "message")

    @property
    def source_fetches(self) -> int:
        return self._process.call(self._key, "source_fetches")

    @contextlib.contextmanager
    def sequence(self, first: int, last: int, scale: float = 1.0, interactive: bool = False):
        assert self.begin_sequence(first, last, scale, interactive) == OK
        try:
            yield
        finally:
            self.end_sequence(first, last, scale, interactive)


_loaded: list = []


def load_host() -> OfxHost:
    """The plugin, built if needed, in one test-host process for this process's tests."""
    if not _loaded:
        try:
            _loaded.append(OfxHost(HostProcess(build_plugin(), build_host())))
        except Exception as exc:  # remembered: every test that needs the host fails the same way
            _loaded.append(exc)
    if isinstance(_loaded[0], Exception):
        raise _loaded[0]
    return _loaded[0]


class Serve:
    """``frameloom serve`` in its own process on a free loopback port."""

    def __init__(self, tmp: Path, *, token_file: Path | None = None):
        self.tmp = tmp
        self.store = tmp / "store"
        port_file = tmp / "port"
        port_file.unlink(missing_ok=True)
        args = [*FRAMELOOM, "serve", "--port", "0", "--port-file", str(port_file),
                "--store", str(self.store), "--device", "cpu"]
        if token_file is not None:
            args += ["--token-file", str(token_file)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"frameloom serve exited: {self.proc.stderr.read().decode()[-2000:]}")
            return port_file.exists() and port_file.read_text().strip()

        atexit.register(self.stop)   # whatever happens to the test that started it
        self.port = int(wait_until(ready, timeout=120))
        self.target = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)   # a test may have frozen it
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc.stderr.close()


@contextlib.contextmanager
def servers():
    """``start(tmp, token_file=...)`` starts a server of one's own; all are stopped on leaving."""
    started: list[Serve] = []

    def start(tmp: Path, **kwargs) -> Serve:
        started.append(Serve(tmp, **kwargs))
        return started[-1]

    try:
        yield start
    finally:
        for srv in started:
            srv.stop()


def stylize_cli(clip: Path, out: Path, *args: str) -> list[np.ndarray]:
    """``frameloom stylize CLIP ARGS -o OUT`` (a PNG folder); the frames it wrote, in order."""
    from frameloom.media.sequence import list_sequence, read_image

    proc = subprocess.run([*FRAMELOOM, "stylize", str(clip), *args, "-o", str(out)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        raise AssertionError(f"frameloom stylize failed: {proc.stderr[-2000:]}")
    return [read_image(p) for p in list_sequence(str(out))]


def decode(path: Path) -> list[np.ndarray]:
    """The clip's frames exactly as ``frameloom stylize`` reads them: (H, W, 3) uint8 RGB."""
    from frameloom.frames import from_float
    from frameloom.media import open_source

    with contextlib.closing(open_source(str(path))) as src:
        return [from_float(f.image, np.uint8) for f in src]


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - t, value
