"""One farm task: a chunk of a job rendered through the one runner into its own folder.

A chunk's folder (``<chunks>/<first>-<last>/``) holds its rendered frames (owned plus handles) as
PNGs at the output's bit depth, and ``chunk.json``, which says what made them. It appears whole
or not at all: frames go to a temporary folder named after this host and process, which is
renamed into place once every frame and the manifest are written. So a task is safe to retry,
to run twice at once, or to kill at any moment, and one whose folder is complete does no work.
No state is shared but the files.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

from ..errors import OutputError, UserError
from ..frames import to_float
from .plan import Chunk

log = logging.getLogger(__name__)

MANIFEST = "chunk.json"
FORMAT = 1
FRAME_NAME = "frame_%06d.png"
_PARTIAL = ".partial-"


@dataclass
class ChunkResult:
    chunk: Chunk
    path: Path
    frames_written: int
    skipped: bool           # it was complete already: no work done
    started: float = 0.0    # wall-clock time the render began and ended (for farm logs)
    ended: float = 0.0


def identity(spec, chunk: Chunk, bit_depth: int) -> dict:
    """What decides a chunk's pixels; a folder whose manifest says otherwise is stale."""
    from ..spec import spec_hash

    frames = spec.frames if spec.HasField("frames") else None
    return {"format": FORMAT, "spec": spec_hash(spec), "input": os.path.abspath(spec.input),
            "job_frames": None if frames is None else
            [frames.start, frames.end if frames.HasField("end") else None, frames.step or 1],
            "bit_depth": bit_depth, **chunk.to_json()}


def chunk_path(root: Path, chunk: Chunk) -> Path:
    return Path(root) / chunk.name


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def is_complete(folder: Path, expected: dict) -> bool:
    manifest = read_manifest(folder)
    if manifest is None or {k: manifest.get(k) for k in expected} != expected:
        return False
    return all((Path(folder) / (FRAME_NAME % i)).is_file() for i in manifest.get("indices", []))


def read_frame(folder: Path, index: int):
    """Frame ``index`` of a chunk folder as ``(H, W, 3)`` float32."""
    from ..images import read_image

    return to_float(read_image(Path(folder) / (FRAME_NAME % index)))


def chunk_bit_depth(spec, info) -> int:
    from ..media import stored_bit_depth

    return stored_bit_depth(spec.output, info, spec.output_options if spec.HasField("output_options")
                            else None)


def render_chunk(spec, chunk: Chunk, root: str | os.PathLike, *, fps: Fraction | None = None,
                 device=None, stylizer=None, progress: Callable[[int, int | None, str], None] | None = None,
                 is_cancelled: Callable[[], bool] | None = None, confine=None) -> ChunkResult:
    """Render ``chunk`` of ``spec`` (a job whose paths are absolute) into ``root``; a chunk
    already complete there is skipped. ``stylizer``: one to reuse (a Ray worker keeps its
    models loaded from chunk to chunk); None: the runner builds it for ``device``.
    ``confine``: a server's check of every file the job reads."""
    from ..jobs.runner import run_job
    from ..media import FrameSelection, open_source
    from ..media.sequence import SequenceSink

    root = Path(root)
    final = chunk_path(root, chunk)
    started = time.time()
    selection = FrameSelection.from_proto(spec.frames) if spec.HasField("frames") else None
    with open_source(spec.input, selection, fps=fps, confine=confine) as source:
        expected = identity(spec, chunk, chunk_bit_depth(spec, source.info))
        if is_complete(final, expected):
            log.info("chunk %s is complete already", chunk.frames)
            return ChunkResult(chunk, final, 0, True)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the chunks folder {root}: {exc.strerror}") from None
        _drop_dead_partials(root, chunk)
        tmp = root / f".{chunk.name}{_PARTIAL}{socket.gethostname()}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        sink = SequenceSink(str(tmp), ext=".png", bit_depth=expected["bit_depth"])
        indices: list[int] = []
        result = run_job(spec, source, _Recording(sink, indices), stylizer=stylizer, device=device,
                         progress=progress, is_cancelled=is_cancelled, span=chunk.rendered,
                         confine=confine)
    wanted = [i for i in source.indices if chunk.rendered[0] <= i <= chunk.rendered[1]]
    if sorted(indices) != wanted:
        raise UserError(f"chunk {chunk.frames}: rendered {len(indices)} of its {len(wanted)} frames")
    (tmp / MANIFEST).write_text(json.dumps({**expected, "indices": wanted}, indent=1))
    if final.exists():
        # Stale (the job changed since), or another attempt of this task got there first.
        if is_complete(final, expected):
            shutil.rmtree(tmp, ignore_errors=True)
            return ChunkResult(chunk, final, result.frames_written, False, started, time.time())
        shutil.rmtree(final, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:
        if not is_complete(final, expected):
            raise
        shutil.rmtree(tmp, ignore_errors=True)   # a twin attempt renamed its copy first
    return ChunkResult(chunk, final, result.frames_written, False, started, time.time())


class _Recording:
    """A sink that remembers which frames went through it."""

    def __init__(self, sink, indices: list[int]):
        self.sink, self.indices = sink, indices

    def write(self, frame) -> None:
        self.sink.write(frame)
        self.indices.append(frame.index)

    def close(self) -> None:
        self.sink.close()


def _drop_dead_partials(root: Path, chunk: Chunk) -> None:
    """Remove this chunk's temporary folders left by processes of this host that are gone
    (killed attempts); other hosts' are left to them, or to ``stitch --clean``."""
    prefix = f".{chunk.name}{_PARTIAL}{socket.gethostname()}-"
    for entry in root.glob(f".{chunk.name}{_PARTIAL}*"):
        if not entry.name.startswith(prefix):
            continue
        try:
            pid = int(entry.name[len(prefix):])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def partial_folders(root: Path) -> list[Path]:
    """Temporary folders of attempts that did not finish (yet)."""
    return sorted(Path(root).glob(f".*{_PARTIAL}*"))
