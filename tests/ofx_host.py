"""Driving the OpenFX plugin as a host does, for the tests and the benchmark.

The host itself is C++ (tests/ofxhost): the OFX suites are C functions with varargs
(``paramGetValue``, ``message``) that ctypes cannot implement portably, and render threads must
run without the GIL, as a host's do. This module builds it and the plugin with CMake into build/
(when missing or stale), wraps its flat C API, and starts ``frameloom serve`` on loopback.
No tests here.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from test_service_helpers import wait_until

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
BUNDLE = BUILD / "ofx" / "frameloom.ofx.bundle"
FRAMELOOM = [sys.executable, "-m", "frameloom.cli"]

DEPTHS = {"byte": ("OfxBitDepthByte", np.uint8), "short": ("OfxBitDepthShort", np.uint16),
          "float": ("OfxBitDepthFloat", np.float32)}
COMPONENTS = {3: "OfxImageComponentRGB", 4: "OfxImageComponentRGBA"}
OK, FAILED = 0, 1


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


class HostError(RuntimeError):
    pass


def _declare(lib) -> None:
    ptr, text, num, real, long_ = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_double,
                                   ctypes.c_long)
    sigs = {
        "th_load": (ptr, [text, text, num]), "th_describe_json": (text, [ptr]),
        "th_unload": (num, [ptr]), "th_log": (text, [ptr]), "th_property_errors": (num, [ptr]),
        "th_memory_blocks": (long_, [ptr]), "th_images_outstanding": (long_, [ptr]),
        "th_create": (ptr, [ptr, text, text, num, num, real, real, real, text, num]),
        "th_destroy": (num, [ptr]), "th_set_source": (num, [ptr, real, real, ptr, num, num]),
        "th_set_string": (num, [ptr, text, text]), "th_set_string_key": (num, [ptr, text, real, text]),
        "th_set_int": (num, [ptr, text, num]), "th_set_double": (num, [ptr, text, real]),
        "th_set_double_key": (num, [ptr, text, real, real]), "th_press": (num, [ptr, text]),
        "th_begin_sequence": (num, [ptr, real, real, real, num]),
        "th_end_sequence": (num, [ptr, real, real, real, num]),
        "th_render": (num, [ptr, real, real, ptr, long_]), "th_set_abort": (None, [ptr, num]),
        "th_persistent_message": (text, [ptr]), "th_source_fetches": (long_, [ptr]),
        "th_frames_needed": (num, [ptr, real, ctypes.POINTER(real)]), "th_purge": (num, [ptr]),
        "th_render_timing": (None, [ptr, ctypes.POINTER(real)]), "th_set_unique_ids": (None, [ptr, num]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes


class OfxHost:
    """The plugin loaded into the test host: one per process (as the C++ host allows)."""

    def __init__(self, binary: Path, library: Path):
        self.lib = ctypes.CDLL(str(library))
        _declare(self.lib)
        err = ctypes.create_string_buffer(1024)
        self.handle = self.lib.th_load(str(binary).encode(), err, len(err))
        if not self.handle or err.value:
            raise HostError(f"loading {binary}: {err.value.decode()}\n{self.log() if self.handle else ''}")

    def describe(self) -> dict:
        return json.loads(self.lib.th_describe_json(self.handle).decode())

    def log(self) -> str:
        return self.lib.th_log(self.handle).decode()

    @property
    def property_errors(self) -> int:
        return self.lib.th_property_errors(self.handle)

    @property
    def images_outstanding(self) -> int:
        return self.lib.th_images_outstanding(self.handle)

    @property
    def memory_blocks(self) -> int:
        return self.lib.th_memory_blocks(self.handle)

    def create(self, depth: str, channels: int, width: int, height: int, first: float, last: float,
               fps: float = 24.0) -> "Instance":
        err = ctypes.create_string_buffer(512)
        handle = self.lib.th_create(self.handle, DEPTHS[depth][0].encode(),
                                    COMPONENTS[channels].encode(), width, height, first, last, fps,
                                    err, len(err))
        if not handle:
            raise HostError(err.value.decode())
        return Instance(self, handle, depth, channels)

    def unload(self) -> int:
        return self.lib.th_unload(self.handle)


_loaded: list = []


def load_host() -> OfxHost:
    """The plugin, built if needed, loaded once per process (the C++ host holds one plugin)."""
    if not _loaded:
        try:
            _loaded.append(OfxHost(build_plugin(), build_host()))
        except Exception as exc:  # remembered: every test that needs the host fails the same way
            _loaded.append(exc)
    if isinstance(_loaded[0], Exception):
        raise _loaded[0]
    return _loaded[0]


class Instance:
    """One filter-context instance: its source clip, parameters, renders and messages."""

    def __init__(self, host: OfxHost, handle, depth: str, channels: int):
        self.host, self.lib, self.handle = host, host.lib, handle
        self.depth, self.channels = depth, channels
        self.dtype = DEPTHS[depth][1]
        self._sizes: dict[tuple[int, float], tuple[int, int]] = {}

    def set_sources(self, frames, first: int = 0, scale: float = 1.0) -> None:
        """Frames ``(H, W, channels)`` of the instance's dtype, at times first, first + 1, ..."""
        for i, frame in enumerate(frames):
            frame = np.ascontiguousarray(frame, dtype=self.dtype)
            assert frame.ndim == 3 and frame.shape[2] == self.channels, frame.shape
            self.lib.th_set_source(self.handle, float(first + i), scale, frame.ctypes.data,
                                   frame.shape[1], frame.shape[0])
            self._sizes[(first + i, scale)] = frame.shape[:2]

    def set(self, name: str, value) -> None:
        if isinstance(value, str):
            st = self.lib.th_set_string(self.handle, name.encode(), value.encode())
        elif isinstance(value, float):
            st = self.lib.th_set_double(self.handle, name.encode(), value)
        else:
            st = self.lib.th_set_int(self.handle, name.encode(), int(value))
        if st != OK:
            raise HostError(f"no parameter {name} taking {type(value).__name__}")

    def choose(self, name: str, label: str) -> None:
        """Set a choice parameter by its option label, as host scripts do."""
        options = next(p for p in self.host.describe()["params"] if p["OfxPropName"] == [name])
        self.set(name, options["OfxParamPropChoiceOption"].index(label))

    def set_key(self, name: str, time: float, value) -> None:
        fn = self.lib.th_set_string_key if isinstance(value, str) else self.lib.th_set_double_key
        arg = value.encode() if isinstance(value, str) else float(value)
        if fn(self.handle, name.encode(), float(time), arg) != OK:
            raise HostError(f"cannot key {name}")

    def press(self, name: str) -> None:
        if self.lib.th_press(self.handle, name.encode()) != OK:
            raise HostError(f"no button {name}")

    def render(self, time: int, scale: float = 1.0) -> tuple[int, np.ndarray]:
        h, w = self._sizes[(time, scale)]
        out = np.empty((h, w, self.channels), self.dtype)
        st = self.lib.th_render(self.handle, float(time), scale, out.ctypes.data, out.nbytes)
        if st < 0:
            raise HostError(f"no source frame at {time} (scale {scale}) to size the render")
        return st, out

    @contextlib.contextmanager
    def sequence(self, first: int, last: int, scale: float = 1.0, interactive: bool = False):
        assert self.lib.th_begin_sequence(self.handle, first, last, scale, int(interactive)) == OK
        try:
            yield
        finally:
            self.lib.th_end_sequence(self.handle, first, last, scale, int(interactive))

    def render_timing(self) -> tuple[float, float]:
        """The latest render: seconds in the render action, and of those in the host's calls."""
        r = (ctypes.c_double * 2)()
        self.lib.th_render_timing(self.handle, r)
        return r[0], r[1]

    def set_unique_ids(self, on: bool) -> None:
        """Label source images with kOfxImagePropUniqueIdentifier (a new one when replaced)."""
        self.lib.th_set_unique_ids(self.handle, int(on))

    def set_abort(self, flag: bool) -> None:
        self.lib.th_set_abort(self.handle, int(flag))

    @property
    def message(self) -> str:
        return self.lib.th_persistent_message(self.handle).decode()

    @property
    def source_fetches(self) -> int:
        return self.lib.th_source_fetches(self.handle)

    def frames_needed(self, time: float) -> tuple[float, float]:
        r = (ctypes.c_double * 2)()
        self.lib.th_frames_needed(self.handle, time, r)
        return r[0], r[1]

    def purge(self) -> int:
        return self.lib.th_purge(self.handle)

    def destroy(self) -> int:
        return self.lib.th_destroy(self.handle)


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

        self.port = int(wait_until(ready, timeout=120))
        self.target = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc.stderr.close()


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
