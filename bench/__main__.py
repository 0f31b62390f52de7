"""`python -m bench`: run the benchmark suite, print one table, write bench/results/latest.json."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from bench.machine import describe_machine
from bench.measure import Row
from bench.report import render_table, write_json
from bench.suite import FULL, PARTS, PROBLEMS, QUICK, run_part
from mtl_service.logs import configure_logging

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of every in-process contender (1; the service's worker uses "
        "its own share, and its baseline the same)",
    )
    parser.add_argument(
        "--only", nargs="+", choices=sorted(PARTS), help="run these parts (default: all)"
    )
    parser.add_argument(
        "--problem",
        nargs="+",
        choices=PROBLEMS,
        default=list(PROBLEMS),
        help="problems of the overhead and end-to-end parts (default: both)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file ({RESULTS})")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("python -m bench: --device cuda needs CUDA, which this machine lacks")
    configure_logging(level="warning")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sizes = QUICK if args.quick else FULL
    machine = describe_machine(device)
    started = time.perf_counter()
    rows: list[Row] = []
    for name in args.only or list(PARTS):
        part_started = time.perf_counter()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        rows += run_part(name, sizes, device, args.problem)
        print(f"bench: {name} took {time.perf_counter() - part_started:.0f} s", file=sys.stderr)
    wall_seconds = round(time.perf_counter() - started)
    print(render_table(rows, machine))
    config = {
        "quick": args.quick,
        "parts": args.only or list(PARTS),
        "problems": args.problem,
        "wall_seconds": wall_seconds,
        **asdict(sizes),
    }
    write_json(args.output, rows, machine, config)
    print(f"\n{len(rows)} rows in {wall_seconds} s; wrote {args.output}")


if __name__ == "__main__":
    main()
