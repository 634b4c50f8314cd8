"""Durable job state: SQLite for the jobs, one raw frame file per frame on disk.

A frame counts as finished when its file has been renamed into place *and* its row is in the
``frames`` table; both happen before the runner moves on, so a server killed at any instant
restarts with an exact list of finished frames and redoes only the others (a half-written file is
a ``.tmp`` that nobody reads). Frames are stored as uint8/uint16 pixels behind a fixed 16-byte
header (magic, height, width, channels, bytes per sample): lossless for what a sink writes, and
read back with one ``struct.unpack`` and ``np.frombuffer``; no parser runs (``np.load`` parses its
header with ``ast.literal_eval``, which failed now and then when several threads read at once).

A full disk is a :class:`StoreFull` (RESOURCE_EXHAUSTED) wherever it strikes, never a bare
SQLite or OS error.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LimitExceeded

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    state TEXT NOT NULL, priority INTEGER NOT NULL, spec BLOB NOT NULL, total INTEGER NOT NULL,
    stage TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '',
    error_code TEXT NOT NULL DEFAULT '', created REAL NOT NULL, started REAL NOT NULL DEFAULT 0,
    ended REAL NOT NULL DEFAULT 0, device TEXT NOT NULL DEFAULT '', meta TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS frames (
    job_id TEXT NOT NULL, idx INTEGER NOT NULL, time REAL NOT NULL, PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, job_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (request_id TEXT PRIMARY KEY, job_id TEXT NOT NULL);
"""


_MAGIC = b"FLF1"
_HEADER = struct.Struct("<4sIIHH")   # magic, height, width, channels, bytes per sample


class StoreFull(LimitExceeded):
    """The store's disk (or SQLite database) is full."""


def _full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, sqlite3.Error) and "full" in str(exc).lower()


class _Guard:
    """``with self._guard:``: the store's lock, and disk-full errors as :class:`StoreFull`."""

    def __init__(self, lock):
        self._lock = lock

    def __enter__(self):
        self._lock.acquire()

    def __exit__(self, kind, exc, tb):
        self._lock.release()
        if exc is not None and _full(exc):
            raise StoreFull(f"the server's job store is full ({exc}); free disk space") from exc


@dataclass
class JobRecord:
    id: str
    seq: int
    kind: str                 # "stream" or "headless"
    name: str
    state: str
    priority: int
    spec: bytes               # serialized frameloom.v1.JobSpec
    total: int
    stage: str = ""
    error: str = ""
    error_code: str = ""
    created: float = 0.0
    started: float = 0.0
    ended: float = 0.0
    device: str = ""
    meta: dict = field(default_factory=dict)
    done: int = 0             # finished frames (from the frames table)


class JobStore:
    """All job state under ``root``: ``jobs.sqlite`` and ``jobs/<id>/{src,out}/<index>.frame``.

    Thread-safe: one connection behind a lock (SQLite serializes writers anyway, and the work
    per call is tiny next to a frame)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._guard = _Guard(self._lock)
        self._db = sqlite3.connect(self.root / "jobs.sqlite", check_same_thread=False,
                                   isolation_level=None)
        # WAL + NORMAL: a commit survives the process being killed (it is in the OS cache), which
        # is the failure we promise to survive; fsync per frame would cost more than the frame.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._guard:
            self._db.close()

    # ---- jobs --------------------------------------------------------------------------------

    def create(self, *, kind: str, name: str, priority: int, spec: bytes, total: int,
               meta: dict | None = None) -> JobRecord:
        job_id = uuid.uuid4().hex[:16]
        with self._guard:
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            self._db.execute(
                "INSERT INTO jobs (id, seq, kind, name, state, priority, spec, total, created, meta)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, seq, kind, name, QUEUED, priority, spec, total, time.time(),
                 json.dumps(meta or {})))
            for sub in ("src", "out"):
                (self.job_dir(job_id) / sub).mkdir(parents=True, exist_ok=True)
        return self.get(job_id)

    def _record(self, row) -> JobRecord:
        rec = JobRecord(*row[:15], meta=json.loads(row[15]))
        rec.done = self._db.execute("SELECT COUNT(*) FROM frames WHERE job_id = ?",
                                    (rec.id,)).fetchone()[0]
        return rec

    _COLUMNS = ("id, seq, kind, name, state, priority, spec, total, stage, error, error_code, "
                "created, started, ended, device, meta")

    def get(self, job_id: str) -> JobRecord | None:
        with self._guard:
            row = self._db.execute(f"SELECT {self._COLUMNS} FROM jobs WHERE id = ?",
                                   (job_id,)).fetchone()
            return self._record(row) if row else None

    def list(self, states: tuple[str, ...] = (), limit: int = 100) -> list[JobRecord]:
        query, args = f"SELECT {self._COLUMNS} FROM jobs", []
        if states:
            query += f" WHERE state IN ({', '.join('?' * len(states))})"
            args.extend(states)
        query += " ORDER BY seq DESC LIMIT ?"
        with self._guard:
            return [self._record(r) for r in self._db.execute(query, (*args, limit)).fetchall()]

    def update(self, job_id: str, **fields) -> None:
        if "meta" in fields:
            fields["meta"] = json.dumps(fields["meta"])
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._guard:
            self._db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*fields.values(), job_id))

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    # ---- frames ------------------------------------------------------------------------------

    def _frame_path(self, job_id: str, kind: str, index: int) -> Path:
        return self.job_dir(job_id) / kind / f"{index:08d}.frame"

    def _save(self, path: Path, image: np.ndarray) -> None:
        """``(H, W, C)`` uint8/uint16 into ``path``, atomically (a ``.tmp`` renamed)."""
        h, w, c = image.shape
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(_HEADER.pack(_MAGIC, h, w, c, image.itemsize))
                f.write(memoryview(np.ascontiguousarray(image, image.dtype.newbyteorder("<"))).cast("B"))
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if _full(exc):
                raise StoreFull(f"the server's job store is full ({exc}); free disk space") from exc
            raise

    @staticmethod
    def _load(path: Path) -> np.ndarray:
        with open(path, "rb") as f:
            data = f.read()
        magic, h, w, c, size = _HEADER.unpack_from(data)
        if magic != _MAGIC or size not in (1, 2) or len(data) != _HEADER.size + h * w * c * size:
            raise ValueError(f"{path} is not a complete frame file")
        dtype = np.dtype("<u2") if size == 2 else np.dtype(np.uint8)
        image = np.frombuffer(data, dtype, offset=_HEADER.size).reshape(h, w, c)
        return image.astype(np.uint16) if size == 2 else image

    def save_result(self, job_id: str, index: int, time_s: float, image: np.ndarray) -> None:
        self._save(self._frame_path(job_id, "out", index), image)
        with self._guard:
            self._db.execute("INSERT OR REPLACE INTO frames (job_id, idx, time) VALUES (?, ?, ?)",
                             (job_id, index, time_s))

    def finished(self, job_id: str) -> dict[int, float]:
        """Finished frames: index -> presentation time. Rows whose file vanished do not count."""
        with self._guard:
            rows = self._db.execute("SELECT idx, time FROM frames WHERE job_id = ? ORDER BY idx",
                                    (job_id,)).fetchall()
        return {i: t for i, t in rows if self._frame_path(job_id, "out", i).exists()}

    def load_result(self, job_id: str, index: int) -> np.ndarray:
        return self._load(self._frame_path(job_id, "out", index))

    def save_source(self, job_id: str, index: int, image: np.ndarray) -> None:
        self._save(self._frame_path(job_id, "src", index), image)

    def load_source(self, job_id: str, index: int) -> np.ndarray:
        return self._load(self._frame_path(job_id, "src", index))

    def drop_sources(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id) / "src", ignore_errors=True)

    # ---- clip cache --------------------------------------------------------------------------

    def cache_get(self, key: str) -> str | None:
        with self._guard:
            row = self._db.execute("SELECT job_id FROM cache WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def cache_put(self, key: str, job_id: str) -> None:
        with self._guard:
            self._db.execute("INSERT OR REPLACE INTO cache (key, job_id) VALUES (?, ?)", (key, job_id))

    # ---- submissions (idempotent SubmitJob) ----------------------------------------------------

    def submission(self, request_id: str) -> str | None:
        """The job an earlier SubmitJob with this request id created, if any."""
        with self._guard:
            row = self._db.execute("SELECT job_id FROM submissions WHERE request_id = ?",
                                   (request_id,)).fetchone()
        return row[0] if row else None

    def record_submission(self, request_id: str, job_id: str) -> None:
        with self._guard:
            self._db.execute("INSERT OR IGNORE INTO submissions (request_id, job_id) VALUES (?, ?)",
                             (request_id, job_id))
