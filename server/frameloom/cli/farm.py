"""Render-farm subcommands: ``plan`` and ``stitch``, and the chunked forms of ``render``.

``frameloom plan JOB --chunk 48 --overlap 8`` prints the task list as JSON for any farm manager;
each task is ``frameloom render JOB --frames A-B --overlap 8`` and the last command is
``frameloom stitch JOB --chunk 48 --overlap 8``. ``frameloom render JOB --chunk 48`` renders every
chunk here (or on a Ray cluster with ``--ray``) and stitches them.
"""
from __future__ import annotations

import json
import os
import sys

from frameloom_client.jobspec import load_spec, parse_frames

from ..errors import UserError
from .args import fps_arg


def add_farm_args(p, *, plan: bool = True) -> None:
    """Options every farm command shares. ``plan``: --chunk/--overlap cut the whole job."""
    p.add_argument("-o", "--output", help="override the job's output (the final clip)")
    p.add_argument("--chunks-dir", metavar="DIR",
                   help="where chunk folders go (default: beside the output, <output>.chunks); "
                        "storage every node that renders or stitches sees")
    p.add_argument("--fps", type=fps_arg, help="frame rate of image-sequence inputs")
    if plan:
        p.add_argument("--chunk", type=int, default=48, metavar="N",
                       help="frames each task owns (default 48)")
        p.add_argument("--overlap", type=int, default=8, metavar="H",
                       help="handle frames rendered on each side of a task's own (default 8)")


def add_parsers(sub) -> None:
    p = sub.add_parser("plan", help="print a job's render-farm task list as JSON",
                       description="Cut a job into frame-range tasks with handle frames and "
                                   "print {\"tasks\": [{\"frames\", \"command\"}], \"stitch\"} "
                                   "for a farm manager (Deadline, OpenCue, Tractor, Flamenco). "
                                   "Tasks run in any order, anywhere the same storage is seen.")
    p.add_argument("job", help="job file (.toml or .json)")
    add_farm_args(p)
    p.add_argument("--program", metavar="CMD",
                   help="the command that starts frameloom on the farm's nodes "
                        "(default frameloom; e.g. '/opt/frameloom/bin/frameloom')")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("stitch", help="join a job's rendered chunks into its output",
                       description="Join the chunks a plan's tasks rendered into the job's "
                                   "output (any output kind, audio from the source), blending "
                                   "each overlap so no seam shows.")
    p.add_argument("job", help="job file (.toml or .json)")
    add_farm_args(p)
    p.add_argument("--clean", action="store_true", help="remove the chunk folders afterwards")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_stitch)


def warn_short_handles(spec, overlap: int) -> None:
    """Handles shorter than what a chunk's edge needs still stitch without a seam, but the
    chunks no longer match an uninterrupted render exactly: say so once."""
    from ..farm.stitch import context_radius

    need = context_radius(spec)
    if need and overlap <= need:
        print(f"frameloom: note: with --overlap {overlap} (not over the {need} frames a chunk's "
              f"edge needs; use {need + 1} or more) seams are blended, but frames near them differ "
              "from an uninterrupted render", file=sys.stderr)


def load_job(args):
    spec = load_spec(args.job)
    if getattr(args, "output", None):
        spec.output = os.path.abspath(args.output)
    return spec


def cmd_plan(args) -> int:
    from ..farm.plan import chunks_dir, farm_plan, job_indices, plan_chunks, split_program

    spec = load_job(args)
    chunks = plan_chunks(job_indices(spec, fps=args.fps), args.chunk, args.overlap)
    chunks_dir(spec, args.chunks_dir)   # the job must say where its output goes
    warn_short_handles(spec, args.overlap)
    plan = farm_plan(args.job, chunks, args.chunk, args.overlap, program=split_program(args.program),
                     output=args.output, chunk_root=args.chunks_dir, fps=args.fps)
    # One task a line: readable, and still one JSON document.
    tasks = ",\n  ".join(json.dumps(t) for t in plan["tasks"])
    sys.stdout.write(f'{{"tasks": [\n  {tasks}\n ],\n "stitch": {json.dumps(plan["stitch"])}}}\n')
    return 0


def cmd_stitch(args) -> int:
    from ..farm.plan import chunks_dir, job_indices, plan_chunks

    spec = load_job(args)
    chunks = plan_chunks(job_indices(spec, fps=args.fps), args.chunk, args.overlap)
    return _stitch(spec, chunks, chunks_dir(spec, args.chunks_dir), args)


def _stitch(spec, chunks, root, args) -> int:
    from ..farm.stitch import stitch
    from ..jobs.local import progress_bar

    bar, progress = progress_bar(None, "stitch", quiet=getattr(args, "quiet", False))
    try:
        result = stitch(spec, chunks, root, overlap=args.overlap, fps=args.fps, progress=progress,
                        is_cancelled=None, clean=getattr(args, "clean", False))
    finally:
        bar.close()
    print(f"stitched {result.frames_written} frames from {len(chunks)} chunks "
          f"({result.blended} blended across seams) to {spec.output}", file=sys.stderr)
    return 0


# ---- render: one task, or every chunk --------------------------------------------------------

def owned_range(spec, text: str, indices: list[int]) -> tuple[int, int]:
    """``--frames A-B`` of render: part of the job's frames (the step is the job's)."""
    r = parse_frames(text)
    job_step = spec.frames.step if spec.HasField("frames") and spec.frames.step else 1
    if r.step not in (1, job_step):
        raise UserError(f"--frames takes START-END; the step is the job's ({job_step})")
    last = r.end if r.HasField("end") else indices[-1]
    return r.start, last


def render_task(args, spec) -> int:
    """One farm task: the chunk owning ``--frames``, with ``--overlap`` handles."""
    from ..farm.chunk import render_chunk
    from ..farm.plan import chunk_of, chunks_dir, job_indices, plan_chunks
    from ..farm.stitch import missing_chunks
    from ..jobs.local import progress_bar

    indices = job_indices(spec, fps=args.fps)
    first, last = owned_range(spec, args.frames, indices)
    chunk = chunk_of(indices, first, last, args.overlap)
    root = chunks_dir(spec, args.chunks_dir)
    plan = None
    if args.stitch:
        if not args.chunk:
            raise UserError("--stitch needs --chunk N, the chunk size of the plan this task is in")
        plan = plan_chunks(indices, args.chunk, args.overlap)
        if chunk not in plan:
            raise UserError(f"frames {chunk.frames} are not a task of the plan with --chunk "
                            f"{args.chunk} --overlap {args.overlap}")
    n = sum(1 for i in indices if chunk.rendered[0] <= i <= chunk.rendered[1])
    bar, progress = progress_bar(n, f"chunk {chunk.frames}")
    try:
        result = render_chunk(spec, chunk, root, fps=args.fps, progress=progress)
    finally:
        bar.close()
    done = "complete already" if result.skipped else f"wrote {result.frames_written} frames"
    print(f"chunk {chunk.frames} (rendered {chunk.rendered[0]}-{chunk.rendered[1]}): {done} in "
          f"{result.path}", file=sys.stderr)
    if plan is not None:
        from ..farm.chunk import chunk_bit_depth
        from ..media import probe

        left = missing_chunks(spec, plan, root, chunk_bit_depth(spec, probe(spec.input)))
        if left:
            print(f"{len(left)} chunks still to render; the last task to finish stitches",
                  file=sys.stderr)
            return 0
        return _stitch(spec, plan, root, args)
    return 0


def render_chunked(args, spec) -> int:
    """Every chunk of the job, here or on Ray, then the stitch."""
    from ..farm.chunk import chunk_bit_depth, render_chunk
    from ..farm.plan import DEFAULT_CHUNK, DEFAULT_OVERLAP, chunks_dir, job_indices, plan_chunks
    from ..farm.stitch import missing_chunks
    from ..jobs.local import progress_bar
    from ..media import probe

    if args.frames:
        raise UserError("--frames renders one task; --chunk/--ray render the whole job (use one)")
    if args.stitch:
        raise UserError("--stitch is for one task (--frames); --chunk/--ray always stitch")
    args.chunk = args.chunk or DEFAULT_CHUNK
    args.overlap = DEFAULT_OVERLAP if args.overlap is None else args.overlap
    indices = job_indices(spec, fps=args.fps)
    chunks = plan_chunks(indices, args.chunk, args.overlap)
    root = chunks_dir(spec, args.chunks_dir)
    warn_short_handles(spec, args.overlap)
    todo = missing_chunks(spec, chunks, root, chunk_bit_depth(spec, probe(spec.input)))
    frames = sum(sum(1 for i in indices if c.rendered[0] <= i <= c.rendered[1]) for c in todo)
    where = "here" if args.ray is None else f"on Ray ({args.ray})"
    print(f"{len(chunks)} chunks of {args.chunk} frames, {args.overlap} handle frames; "
          f"{len(todo)} to render {where}", file=sys.stderr)
    bar, progress = progress_bar(frames, "chunks")
    try:
        if args.ray is not None:
            from ..farm.ray_executor import RayOptions, render_on_ray

            options = RayOptions(address=None if args.ray == "local" else args.ray,
                                 workers=args.workers)
            render_on_ray(spec, todo, root, options, fps=args.fps,
                          progress=lambda done, total, stage: progress(done, total, stage))
        else:
            base = 0
            for chunk in todo:
                result = render_chunk(spec, chunk, root, fps=args.fps,
                                      progress=lambda d, t, s: progress(base + d, None, s))
                base += result.frames_written
    finally:
        bar.close()
    return _stitch(spec, chunks, root, args)
