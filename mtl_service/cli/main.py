"""mtlctl: submit, inspect, watch, cancel and debug jobs of an mtl-service.

The bearer token comes from $MTL_TOKEN; --tls-ca/--tls-cert/--tls-key (or
$MTL_TLS_CA/$MTL_TLS_CERT/$MTL_TLS_KEY) turn on TLS and mutual TLS.

Exit codes: 0 success; 1 the watched job ended FAILED or CANCELLED;
2 bad input (usage, INVALID_ARGUMENT); 3 NOT_FOUND; 4 FAILED_PRECONDITION;
5 the service is unreachable (UNAVAILABLE, DEADLINE_EXCEEDED); 6 any other error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
from google.protobuf import json_format

from mtl.v1 import job_pb2
from mtl_service.cli import debug_commands, plot_command, problems_command, render
from mtl_service.cli.exit_codes import EXIT_BAD_INPUT, EXIT_JOB_UNSUCCESSFUL, exit_code
from mtl_service.client import ClientError, MtlClient


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtlctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--target",
        default=os.environ.get("MTL_TARGET", "localhost:50051"),
        help="the service's HOST:PORT (default $MTL_TARGET or localhost:50051)",
    )
    for option, variable, what in (
        ("--tls-ca", "MTL_TLS_CA", "PEM CA that signed the service's certificate (turns TLS on)"),
        ("--tls-cert", "MTL_TLS_CERT", "PEM client certificate for mutual TLS"),
        ("--tls-key", "MTL_TLS_KEY", "PEM key of --tls-cert"),
    ):
        default = os.environ.get(variable)
        parser.add_argument(
            option,
            type=Path,
            default=Path(default) if default else None,
            help=f"{what} (${variable})",
        )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_job_parsers(commands)
    debug_commands.add_parsers(commands)
    problems_command.add_parser(commands)
    plot_command.add_parser(commands)
    return parser


def _add_job_parsers(commands: argparse._SubParsersAction) -> None:
    submit = commands.add_parser("submit", help="submit a job spec (YAML or JSON)")
    submit.add_argument("spec", type=Path, help="the job spec file")
    submit.add_argument("--watch", action="store_true", help="then watch it until it ends")
    get = commands.add_parser("get", help="show one job")
    get.add_argument("job_id")
    get.add_argument("--json", action="store_true", help="print the Job message as JSON")
    listing = commands.add_parser("list", help="list jobs, newest first")
    listing.add_argument("--state", action="append", default=[], help="only this state (repeat)")
    listing.add_argument("--page-size", type=int, default=0, help="jobs per request")
    listing.add_argument("--limit", type=int, default=0, help="show at most this many (0: all)")
    cancel = commands.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("job_id")
    cancel.add_argument("--reason", default="cancelled with mtlctl")
    watch = commands.add_parser("watch", help="follow a job's events until it ends")
    watch.add_argument("job_id")


def cmd_submit(client: MtlClient, args: argparse.Namespace) -> int:
    try:
        text = args.spec.read_text()
    except OSError as error:
        print(f"mtlctl: cannot read {args.spec}: {error.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    job = client.submit_text(text)
    print(job.id)
    return watch_job(client, job.id) if args.watch else 0


def cmd_get(client: MtlClient, args: argparse.Namespace) -> int:
    job = client.get(args.job_id)
    print(json_format.MessageToJson(job) if args.json else render.job_details(job))
    return 0


def cmd_list(client: MtlClient, args: argparse.Namespace) -> int:
    try:
        states = [render.parse_state(text) for text in args.state]
    except ValueError as error:
        print(f"mtlctl: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    jobs = []
    for job in client.list_all(states=states, page_size=args.page_size):
        jobs.append(job)
        if args.limit and len(jobs) >= args.limit:
            break
    print(render.job_table(jobs))
    return 0


def cmd_cancel(client: MtlClient, args: argparse.Namespace) -> int:
    job = client.cancel(args.job_id, args.reason)
    print(f"{job.id} {render.state_name(job.state)}")
    return 0


def cmd_watch(client: MtlClient, args: argparse.Namespace) -> int:
    return watch_job(client, args.job_id)


def watch_job(client: MtlClient, job_id: str) -> int:
    """Follow the job: a live bar on a TTY, plain lines otherwise; exit 1 unless it succeeded."""
    total_steps = client.get(job_id).spec.steps
    bar = render.ProgressBar(sys.stdout, total_steps) if sys.stdout.isatty() else None
    final_state = job_pb2.JOB_STATE_UNSPECIFIED
    for event in client.watch(job_id):
        if event.HasField("state_change"):
            final_state = event.state_change.to_state
        if bar is not None:
            bar.update(event)
        elif (line := render.event_line(event, total_steps)) is not None:
            print(line, flush=True)
    if bar is not None:
        bar.finish()
    job = client.get(job_id)
    print(f"{job.id} {render.state_name(job.state)}" + (f": {job.message}" if job.message else ""))
    succeeded = final_state == job_pb2.JOB_STATE_SUCCEEDED
    return 0 if succeeded else EXIT_JOB_UNSUCCESSFUL


COMMANDS: dict[str, Callable[[MtlClient, argparse.Namespace], int]] = {
    "submit": cmd_submit,
    "get": cmd_get,
    "list": cmd_list,
    "cancel": cmd_cancel,
    "watch": cmd_watch,
    **debug_commands.COMMANDS,
    **problems_command.COMMANDS,
    **plot_command.COMMANDS,
}


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        with MtlClient(
            args.target,
            token=os.environ.get("MTL_TOKEN"),
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        ) as client:
            code = COMMANDS[args.command](client, args)
    except ClientError as error:
        print(f"mtlctl: {error}", file=sys.stderr)
        if error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            print(f"mtlctl: is the service running at {args.target}?", file=sys.stderr)
        code = exit_code(error)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
