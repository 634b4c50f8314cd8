"""`frameloom serve` and `frameloom submit`."""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from ..errors import UserError

DEFAULT_PORT = 50051


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None


def _read_token(args) -> str | None:
    if getattr(args, "token_file", None):
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise UserError(f"cannot read token file: {exc}") from None
        if not token:   # an empty file must not quietly mean "no authentication"
            raise UserError(f"the token file {args.token_file} is empty")
        return token
    return getattr(args, "token", None) or os.environ.get("FRAMELOOM_TOKEN") or None


def add_parsers(sub) -> None:
    p = sub.add_parser("serve", help="run the gRPC server",
                       description="Serve the engine over gRPC (frameloom.v1).")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default loopback; anything else needs a token)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument("--port-file", help="write the bound port to this file once serving")
    p.add_argument("--token", help="bearer token clients must send (prefer --token-file or "
                                   "FRAMELOOM_TOKEN: arguments are visible to other users)")
    p.add_argument("--token-file")
    p.add_argument("--tls-cert", help="PEM certificate chain (with --tls-key)")
    p.add_argument("--tls-key")
    p.add_argument("--media-root", action="append", default=[],
                   help="folder clients may read and write media under (repeatable)")
    p.add_argument("--model-dir", action="append", default=[],
                   help="folder of models, ControlNets, LoRAs and annotators (repeatable)")
    p.add_argument("--store", default=os.environ.get("FRAMELOOM_STORE", "frameloom-store"),
                   help="folder for job state and finished frames (default ./frameloom-store)")
    p.add_argument("--device", action="append", default=[],
                   help="device to run jobs on, one job at a time each (default: every GPU, or cpu)")
    p.add_argument("--model-cache", type=int, default=1, metavar="N",
                   help="diffusion models kept loaded per device between jobs, least recently "
                        "used dropped first (default 1; 0 loads the model for every job)")
    p.add_argument("--max-size", type=_size, default=(8192, 8192), metavar="WxH")
    p.add_argument("--max-frames", type=int, default=100_000)
    p.add_argument("--max-in-flight", type=int, default=16,
                   help="streamed frames read ahead of the engine")
    p.add_argument("--max-queued", type=int, default=256)
    p.add_argument("--max-stream-memory", type=int, default=4096, metavar="MIB",
                   help="memory all streamed clips may hold together, in MiB (default 4096; 0: "
                        "no limit); frames past it are refused with RESOURCE_EXHAUSTED")
    p.add_argument("--allow-pickle", action="store_true",
                   help="let jobs load pickle checkpoints (.ckpt/.pt/.bin: they can run code; only "
                        "for model folders you trust)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info",
                   help="what the server logs (default info: start, jobs, errors)")
    g = p.add_argument_group("Ray (needs frameloom[ray])")
    g.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run headless jobs as chunks on a Ray cluster instead of the local "
                        "devices: no address starts a local one, 'auto' joins the one `ray start` "
                        "made here, or HOST:PORT; its nodes must see the media roots at the same "
                        "paths (streamed clips still run here)")
    g.add_argument("--ray-chunk", type=int, default=48, metavar="N", help="frames per chunk (default 48)")
    g.add_argument("--ray-overlap", type=int, default=8, metavar="H",
                   help="handle frames on each side of a chunk (default 8)")
    g.add_argument("--ray-workers", type=int, metavar="N",
                   help="Ray workers (default: one per GPU of the cluster, else one per CPU)")
    p.set_defaults(func=run_serve)

    p = sub.add_parser("submit", help="run a job file on a frameloom server",
                       description="Submit a job (TOML/JSON) to a server. Its paths are relative "
                                   "to the job file and sent as absolute paths: they must lie "
                                   "under the server's media roots (models: its model folders).")
    p.add_argument("job", help="job file (.toml or .json)")
    p.add_argument("--server", default=f"127.0.0.1:{DEFAULT_PORT}", metavar="HOST:PORT")
    p.add_argument("--token")
    p.add_argument("--token-file")
    p.add_argument("--tls-ca", help="PEM root certificate to trust (turns on TLS)")
    p.add_argument("--tls", action="store_true", help="TLS with the system's root certificates")
    p.add_argument("--input", help="override the job's input (a path as the server sees it)")
    p.add_argument("--output", help="override the job's output (a path as the server sees it)")
    p.add_argument("--priority", type=int)
    p.add_argument("--no-wait", action="store_true", help="print the job id and return")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_submit)


def run_serve(args) -> int:
    if args.model_cache < 0:
        raise UserError(f"--model-cache must be 0 or more, got {args.model_cache}")
    from ..jobs.engine import EngineConfig, Limits
    from ..service.server import ServerConfig, serve_forever

    limits = Limits(max_width=args.max_size[0], max_height=args.max_size[1],
                    max_frames=args.max_frames, max_in_flight=args.max_in_flight,
                    max_queued_jobs=args.max_queued, max_stream_memory=args.max_stream_memory * 2**20)
    farm = None
    if args.ray is not None:
        from ..farm.headless import FarmConfig
        from ..farm.plan import check_sizes
        from ..farm.ray_executor import RayOptions

        check_sizes(args.ray_chunk, args.ray_overlap)
        farm = FarmConfig(ray=RayOptions(address=None if args.ray == "local" else args.ray,
                                         workers=args.ray_workers),
                          chunk=args.ray_chunk, overlap=args.ray_overlap)
    engine = EngineConfig(store_dir=args.store, media_roots=args.media_root,
                          model_dirs=args.model_dir, devices=args.device, limits=limits,
                          model_cache=args.model_cache, allow_pickle=args.allow_pickle, farm=farm)
    config = ServerConfig(engine=engine, host=args.host, port=args.port, token=_read_token(args),
                          tls_cert=args.tls_cert, tls_key=args.tls_key, port_file=args.port_file)
    asyncio.run(serve_forever(config))
    return 0


def _job_spec(args):
    """The job file with its paths made absolute (one rule: relative to the job file); the
    overrides are the server's paths, sent as given."""
    from frameloom_client.jobspec import load_spec

    spec = load_spec(args.job)
    if args.input:
        spec.input = args.input
    if args.output:
        spec.output = args.output
    if args.priority is not None:
        spec.priority = args.priority
    return spec


def run_submit(args) -> int:
    from tqdm import tqdm

    from frameloom_client import FrameloomClient, FrameloomError
    from frameloom_client.v1 import frameloom_pb2 as pb

    spec = _job_spec(args)
    ca = Path(args.tls_ca).read_bytes() if args.tls_ca else None
    try:
        with FrameloomClient(args.server, token=_read_token(args), tls=args.tls,
                             root_certificates=ca) as client:
            job = client.submit(spec)
            if args.no_wait:
                print(job.id)
                return 0
            bar = tqdm(total=job.total or None, unit="frame", desc=spec.name or job.id,
                       disable=args.quiet, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)

            def progress(j: pb.Job) -> None:
                if j.state == pb.JOB_STATE_QUEUED:
                    bar.set_postfix_str(f"queued, {j.queue_position} ahead")
                else:
                    bar.set_postfix_str(j.stage or pb.JobState.Name(j.state)[10:].lower())
                bar.update(j.done - bar.n)
            try:
                final = client.wait(job.id, progress)
            except KeyboardInterrupt:
                client.cancel_job(job.id)
                raise
            finally:
                bar.close()
    except FrameloomError as exc:
        hint = ""
        if exc.code in ("PERMISSION_DENIED", "NOT_FOUND"):
            hint = (" (a job file's paths are relative to the job file and sent as absolute "
                    "paths; the server must see them under its media roots)")
        print(f"frameloom: error: {exc.code}: {exc}{hint}", file=sys.stderr)
        return 3 if exc.code == "UNAVAILABLE" else 2
    print(f"{final.id}: done, {final.done} frames -> {final.spec.output or spec.output}")
    return 0
