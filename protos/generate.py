"""Regenerate the Python modules of the frameloom.v1 contract.

    python protos/generate.py

The generated modules live in the client package (``frameloom_client.v1``) because the client must
work without the server; the server imports them from there. protoc writes absolute imports named
after the proto path (``from frameloom.v1 import ...``), which would collide with the server package
``frameloom``; they are rewritten to relative imports.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
OUT_DIR = ROOT / "bridge" / "client" / "frameloom_client" / "v1"


def generate(out_dir: Path = OUT_DIR) -> list[Path]:
    from grpc_tools import protoc
    import grpc_tools

    include = Path(grpc_tools.__file__).parent / "_proto"
    staging = out_dir / "_staging"
    staging.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    args = ["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={staging}",
            f"--pyi_out={staging}", f"--grpc_python_out={staging}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written = []
    for src in sorted((staging / "frameloom" / "v1").glob("*_pb2*.py*")):
        text = re.sub(r"^from frameloom\.v1 import ", "from . import ", src.read_text(), flags=re.M)
        dst = out_dir / src.name
        dst.write_text(text)
        written.append(dst)
    for p in sorted(staging.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    staging.rmdir()
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR
    for path in generate(out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
