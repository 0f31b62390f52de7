"""mtlctl's debug commands: breakpoints, pause/resume/step, snapshots, settings, profiles, forks."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mtl_service.cli import debug_render, render
from mtl_service.cli.exit_codes import EXIT_BAD_INPUT
from mtl_service.client import MtlClient
from mtl_service.client.debug_client import BREAKPOINT_ACTIONS
from mtl_service.client.tensor_files import EXTENSIONS

Command = Callable[[MtlClient, argparse.Namespace], int]


def parse_weight(text: str) -> tuple[str, float]:
    """`depth=0.5` -> ("depth", 0.5); ValueError says what a weight looks like."""
    task, equals, value = text.partition("=")
    if not equals or not task or "=" in value:
        raise ValueError(f"malformed weight {text!r}: write TASK=VALUE, e.g. depth=0.5")
    try:
        weight = float(value)
    except ValueError:
        raise ValueError(f"weight {text!r}: {value!r} is not a number") from None
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"weight {text!r}: must be finite and >= 0")
    return task, weight


class WeightsAction(argparse.Action):
    """Collects TASK=VALUE arguments into a dict; a malformed or repeated one is a usage error."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[str] | None,
        option_string: str | None = None,
    ) -> None:
        weights = dict(getattr(namespace, self.dest) or {})
        for text in [values] if isinstance(values, str) else values or []:
            try:
                task, weight = parse_weight(text)
            except ValueError as error:
                parser.error(str(error))
            if task in weights:
                parser.error(f"task {task!r} is given twice")
            weights[task] = weight
        setattr(namespace, self.dest, weights)


def output_file(text: str) -> Path:
    """A file to write; its folder must exist, so a long transfer is not lost at the end."""
    path = Path(text)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"no folder {str(path.parent)!r} to write {text!r} in")
    return path


def tensor_file(text: str) -> Path:
    path = output_file(text)
    if path.suffix not in EXTENSIONS:
        raise argparse.ArgumentTypeError(f"{text!r}: name a {' or '.join(EXTENSIONS)} file")
    return path


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Add the debug commands to mtlctl's subcommands."""
    _add_breakpoint_parsers(commands)
    _job_command(commands, "pause", "pause a job at its next step boundary")
    _add_skip_step(_job_command(commands, "resume", "let a paused job go on"))
    step = _job_command(commands, "step", "run a paused job N steps, then pause it again")
    step.add_argument("num_steps", type=int, metavar="N")
    _add_skip_step(step)
    _add_snapshot_parser(commands)
    weights = _job_command(commands, "weights", "set loss weights from the next step")
    weights.add_argument("weights", nargs="+", action=WeightsAction, metavar="TASK=VALUE")
    lr = _job_command(commands, "lr", "set the learning rate from the next step")
    lr.add_argument("learning_rate", type=float, metavar="VALUE")
    _add_profile_parser(commands)
    _job_command(commands, "stats", "per-task losses, weights, grad norms and cosines")
    _add_fork_parser(commands)


def _job_command(
    commands: argparse._SubParsersAction, name: str, help_text: str
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text)
    parser.add_argument("job_id", metavar="JOB")
    return parser


def _add_skip_step(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-step", action="store_true", help="drop the paused step's optimizer update"
    )


def _add_breakpoint_parsers(commands: argparse._SubParsersAction) -> None:
    breakpoints = commands.add_parser("break", help="set, list or remove breakpoints")
    actions = breakpoints.add_subparsers(dest="break_command", required=True)
    set_parser = _job_command(actions, "set", "arm a condition, e.g. 'loss.depth > 3'")
    set_parser.add_argument("condition", metavar="CONDITION")
    set_parser.add_argument("--action", choices=list(BREAKPOINT_ACTIONS), default="pause")
    set_parser.add_argument(
        "--select", action="append", default=[], metavar="SEL", help="for snapshot (repeat)"
    )
    set_parser.add_argument(
        "--max-hits", type=int, default=0, metavar="N", help="disarm after N hits (0: never)"
    )
    set_parser.add_argument(
        "--every", type=int, default=0, metavar="N", help="evaluate every N steps (0: each step)"
    )
    _job_command(actions, "list", "a job's breakpoints and their hit counts")
    remove = _job_command(actions, "rm", "remove a breakpoint")
    remove.add_argument("breakpoint_id", metavar="BP_ID")


def _add_snapshot_parser(commands: argparse._SubParsersAction) -> None:
    snapshot = _job_command(commands, "snapshot", "statistics (and data) of selected tensors")
    snapshot.add_argument("selectors", nargs="+", metavar="SELECTOR", help="e.g. grad:trunk.*")
    snapshot.add_argument("--data", action="store_true", help="also transfer the tensors' data")
    snapshot.add_argument(
        "-o",
        "--output",
        type=tensor_file,
        metavar="FILE",
        help="also write the tensors to FILE (.safetensors or .pt)",
    )
    snapshot.add_argument(
        "--rank", type=int, default=0, help="rank of a distributed job to snapshot (default 0)"
    )


def _add_profile_parser(commands: argparse._SubParsersAction) -> None:
    profile = _job_command(commands, "profile", "capture a torch.profiler trace")
    profile.add_argument(
        "--steps", type=int, required=True, metavar="N", help="steps to profile (1-100)"
    )
    profile.add_argument(
        "-o", "--output", type=output_file, required=True, metavar="FILE", help="the trace JSON"
    )
    for flag in ("--record-shapes", "--profile-memory", "--with-stack"):
        profile.add_argument(flag, action="store_true")


def _add_fork_parser(commands: argparse._SubParsersAction) -> None:
    fork = _job_command(commands, "fork", "start a new job from a job's current state")
    fork.add_argument("--name", default="", help="name of the new job")
    fork.add_argument(
        "--weight",
        dest="weights",
        action=WeightsAction,
        metavar="TASK=VALUE",
        help="a loss weight for the fork (repeat)",
    )
    fork.add_argument(
        "--lr", type=float, default=0.0, metavar="X", help="learning rate (0: the parent's)"
    )
    fork.add_argument("--strategy", default="", help="weighting strategy (default: the parent's)")


def cmd_break(client: MtlClient, args: argparse.Namespace) -> int:
    if args.break_command == "set":
        breakpoint = client.set_breakpoint(
            args.job_id,
            args.condition,
            action=args.action,
            snapshot_selectors=args.select,
            max_hits=args.max_hits,
            every_n_steps=args.every,
        )
        print(breakpoint.id)
    elif args.break_command == "list":
        print(debug_render.breakpoint_table(client.list_breakpoints(args.job_id)))
    else:
        client.delete_breakpoint(args.job_id, args.breakpoint_id)
        print(f"{args.breakpoint_id} removed")
    return 0


def cmd_pause(client: MtlClient, args: argparse.Namespace) -> int:
    print(f"{args.job_id} PAUSED at step {client.pause(args.job_id)}")
    return 0


def cmd_resume(client: MtlClient, args: argparse.Namespace) -> int:
    step = client.resume(args.job_id, skip_optimizer_step=args.skip_step)
    skipped = " (optimizer step skipped)" if args.skip_step else ""
    print(f"{args.job_id} resumed at step {step}{skipped}")
    return 0


def cmd_step(client: MtlClient, args: argparse.Namespace) -> int:
    step = client.step(args.job_id, args.num_steps, skip_optimizer_step=args.skip_step)
    print(f"{args.job_id} PAUSED at step {step}")
    return 0


def cmd_snapshot(client: MtlClient, args: argparse.Namespace) -> int:
    include_data = args.data or args.output is not None
    snapshot = client.snapshot(
        args.job_id, args.selectors, include_data=include_data, rank=args.rank
    )
    print(f"step {snapshot.step}")
    print(render.tensor_table(list(snapshot.infos.values())))
    if include_data:
        print(f"{snapshot.num_bytes} bytes of data")
    if args.output is not None:
        return _write(args.output, snapshot.save)
    return 0


def cmd_weights(client: MtlClient, args: argparse.Namespace) -> int:
    print(debug_render.weights_change(client.adjust_loss_weights(args.job_id, args.weights)))
    return 0


def cmd_lr(client: MtlClient, args: argparse.Namespace) -> int:
    response = client.set_learning_rate(args.job_id, args.learning_rate)
    print(debug_render.learning_rate_change(response))
    return 0


def cmd_profile(client: MtlClient, args: argparse.Namespace) -> int:
    trace, summary = client.capture_profile(
        args.job_id,
        args.steps,
        record_shapes=args.record_shapes,
        profile_memory=args.profile_memory,
        with_stack=args.with_stack,
    )
    print(debug_render.profile_summary(summary))
    return _write(args.output, lambda path: path.write_bytes(trace))


def cmd_stats(client: MtlClient, args: argparse.Namespace) -> int:
    stats = client.task_stats(args.job_id)
    print(debug_render.task_stats(stats, color=sys.stdout.isatty()))
    return 0


def cmd_fork(client: MtlClient, args: argparse.Namespace) -> int:
    job = client.fork(
        args.job_id,
        name=args.name,
        loss_weights=args.weights,
        learning_rate=args.lr,
        strategy=args.strategy,
    )
    print(job.id)
    return 0


def _write(path: Path, write: Callable[[Path], object]) -> int:
    try:
        write(path)
    except OSError as error:
        print(f"mtlctl: cannot write {path}: {error.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"wrote {path}")
    return 0


COMMANDS: dict[str, Command] = {
    "break": cmd_break,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "step": cmd_step,
    "snapshot": cmd_snapshot,
    "weights": cmd_weights,
    "lr": cmd_lr,
    "profile": cmd_profile,
    "stats": cmd_stats,
    "fork": cmd_fork,
}
