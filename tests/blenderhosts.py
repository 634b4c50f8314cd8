"""The real Blenders the add-on is tested in, a real `frameloom serve`, and running a session.

- Blender 3.4.1 (Debian's ``blender`` package, the ``sequences`` API), on the system Python
  without numpy or grpc: the legacy zip must bring them.
- Blender 5.0.1 as PyPI's ``bpy`` module in its own Python 3.11 venv (the ``strips`` API): the
  extension zip. ``FRAMELOOM_BPY_PYTHON`` names that venv's python (``.ci/run`` makes it under
  ``~/.cache/frameloom/venv-bpy``).

A host that is not installed is skipped with the command that installs it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from frameloom_client import FrameloomClient

SESSION = Path(__file__).parent / "blender" / "session.py"
BPY_PYTHON = os.environ.get("FRAMELOOM_BPY_PYTHON",
                            os.path.expanduser("~/.cache/frameloom/venv-bpy/bin/python"))
CACHE = os.environ.get("FRAMELOOM_CACHE", os.path.expanduser("~/.cache/frameloom"))


class Host:
    def __init__(self, name: str, install: str):
        self.name, self.install = name, install

    def available(self) -> bool:
        if self.name == "3.4":
            return shutil.which("blender") is not None
        return Path(BPY_PYTHON).is_file()

    def skip_unless_available(self) -> None:
        if not self.available():
            how = ("apt-get install blender" if self.name == "3.4"
                   else "python3.11 -m venv ~/.cache/frameloom/venv-bpy && "
                        "~/.cache/frameloom/venv-bpy/bin/pip install bpy==5.0.1")
            pytest.skip(f"Blender {self.name} is not installed ({how}; .ci/run does it)")

    def command(self, script: Path, *args: str) -> list[str]:
        if self.name == "3.4":
            return ["blender", "-b", "--factory-startup", "--python", str(script), "--", *args]
        return [BPY_PYTHON, str(script), *args]

    def zip_for(self, zips: dict) -> str:
        return str(zips["legacy" if self.install == "legacy" else "extension"])

    def run(self, tmp: Path, cfg: dict, timeout: float = 300) -> dict:
        """Run tests/blender/session.py with ``cfg`` in a fresh user folder; its result."""
        tmp.mkdir(parents=True, exist_ok=True)
        cfg_path = tmp / "session.json"
        cfg_path.write_text(json.dumps(cfg))
        env = {**os.environ, "BLENDER_USER_SCRIPTS": str(tmp / "user-scripts"),
               "BLENDER_USER_EXTENSIONS": str(tmp / "user-extensions"),
               "BLENDER_USER_CONFIG": str(tmp / "user-config"), "OMP_NUM_THREADS": "1"}
        done = subprocess.run(self.command(SESSION, str(cfg_path)), capture_output=True,
                              text=True, timeout=timeout, env=env)
        (tmp / "blender.log").write_text(done.stdout + done.stderr)
        for line in done.stdout.splitlines():
            if line.startswith("FRAMELOOM_RESULT "):
                return json.loads(line[len("FRAMELOOM_RESULT "):])
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise AssertionError(f"Blender {self.name} session failed (rc {done.returncode}):\n{tail}")


HOSTS = [Host("3.4", "legacy"), Host("5.0", "extension")]


def _die_with_parent() -> None:
    """A server whose test run is killed must not outlive it (Linux: PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)


class ServeProcess:
    """`frameloom serve` on a free loopback port, as a user starts it."""

    def __init__(self, tmp: Path, token: str | None = None):
        tmp.mkdir(parents=True, exist_ok=True)
        port_file = tmp / "port"
        self.log = open(tmp / "serve.log", "w")
        auth = []
        if token:
            (tmp / "token").write_text(token + "\n")
            auth = ["--token-file", str(tmp / "token")]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "frameloom.cli", "serve", "--port", "0", "--port-file",
             str(port_file), "--store", str(tmp / "store"), *auth],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"},
            preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 120
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"frameloom serve did not start: {(tmp / 'serve.log').read_text()}")
            time.sleep(0.1)
        self.target = f"127.0.0.1:{port_file.read_text().strip()}"

    def client(self) -> FrameloomClient:
        return FrameloomClient(self.target)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
