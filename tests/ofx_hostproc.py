"""The test OFX host in its own process: the ctypes bindings of tests/ofxhost's C API, and a
small server that runs them for the tests' process (tests/ofx_host.py holds the proxies).

A host is its own process, and this one must be too: the plugin links the system's shared
protobuf, and a process that has already loaded another protobuf exporting the same (GNU unique)
symbols, as grpcio-tools' compiler module does, aborts when the plugin loads. Only the standard
library and numpy are imported here. No tests here.

    python tests/ofx_hostproc.py SOCKET PLUGIN_BINARY HOST_LIBRARY   # key in FRAMELOOM_OFXHOST_KEY
"""
from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
import traceback
from multiprocessing.connection import Listener

import numpy as np

DEPTHS = {"byte": ("OfxBitDepthByte", np.uint8), "short": ("OfxBitDepthShort", np.uint16),
          "float": ("OfxBitDepthFloat", np.float32)}
COMPONENTS = {3: "OfxImageComponentRGB", 4: "OfxImageComponentRGBA"}
OK, FAILED = 0, 1


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

    def __init__(self, binary: str | os.PathLike, library: str | os.PathLike):
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

    def begin_sequence(self, first: int, last: int, scale: float = 1.0, interactive: bool = False) -> int:
        return self.lib.th_begin_sequence(self.handle, first, last, scale, int(interactive))

    def end_sequence(self, first: int, last: int, scale: float = 1.0, interactive: bool = False) -> int:
        return self.lib.th_end_sequence(self.handle, first, last, scale, int(interactive))

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


def serve(address: str, binary: str, library: str, authkey: bytes) -> None:
    """Answer ``(target, name, args, kwargs)`` requests, one thread per connection (the tests render
    from several threads at once): target is "host" or an instance id."""
    host = OfxHost(binary, library)
    instances: dict[int, Instance] = {}
    lock = threading.Lock()

    def answer(conn) -> None:
        with conn:
            while True:
                try:
                    target, name, args, kwargs = conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    obj = host if target == "host" else instances[target]
                    value = getattr(obj, name)
                    value = value(*args, **kwargs) if callable(value) else value
                    if isinstance(value, Instance):
                        with lock:
                            key = len(instances) + 1
                            instances[key] = value
                        value = ("instance", key, value.depth, value.channels)
                    conn.send(("ok", value))
                except Exception as exc:  # noqa: BLE001 - sent back to the test that asked
                    conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))

    with Listener(address, family="AF_UNIX", authkey=authkey) as listener:
        print("ready", flush=True)
        while True:
            conn = listener.accept()
            threading.Thread(target=answer, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], sys.argv[3], os.environ["FRAMELOOM_OFXHOST_KEY"].encode())
