"""`make proto`: regenerate mtl/v1/*_pb2*.py from proto/; `--check` fails on drift.

The generated code is checked in (so an install needs no protoc) and lives in
the top-level package `mtl.v1`, matching the proto package, so the generated
imports (`from mtl.v1 import job_pb2`) work without path hacks.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
GENERATED_DIR = ROOT / "mtl" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(output_root: Path) -> list[Path]:
    """Run protoc (grpcio-tools) over proto/mtl/v1 into `output_root`/mtl/v1."""
    from grpc_tools import protoc

    proto_files = (PROTO_DIR / "mtl" / "v1").glob("*.proto")
    sources = sorted(str(path.relative_to(PROTO_DIR)) for path in proto_files)
    include = Path(protoc.__file__).parent / "_proto"
    arguments = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={output_root}",
        f"--pyi_out={output_root}",
        f"--grpc_python_out={output_root}",
        *sources,
    ]
    if protoc.main(arguments) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(arguments)}")
    return sorted((output_root / "mtl" / "v1").glob("*_pb2*.py*"))


def drifted_files() -> list[str]:
    """Generated files that differ from (or are missing in) mtl/v1."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = {p.name: p for p in generate(Path(scratch))}
        current = {p.name for p in GENERATED_DIR.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}
        drift = sorted(current ^ set(fresh))
        drift += sorted(
            name
            for name, path in fresh.items()
            if name in current and not filecmp.cmp(path, GENERATED_DIR / name, shallow=False)
        )
        return drift


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if mtl/v1 is out of date")
    args = parser.parse_args()
    if args.check:
        drift = drifted_files()
        if drift:
            sys.exit(f"generated code is out of date ({', '.join(drift)}); run `make proto`")
        print("generated code matches proto/")
        return
    for path in generate(ROOT):
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
