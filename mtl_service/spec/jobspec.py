"""Job specs: parse YAML/JSON text, fill defaults, validate field by field, hash."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Generator, Iterator, Mapping

import yaml
from google.protobuf import json_format

from mtl.v1 import spec_pb2
from mtl_service.errors import FieldViolation, InvalidArgument
from mtl_service.spec.breakpoints import MAX_BREAKPOINTS_PER_JOB, breakpoint_violations
from mtl_service.spec.catalog import ARCHITECTURES, PROBLEMS, STRATEGIES, ProblemInfo
from mtl_service.spec.catalog.problems import NUM_TASKS, entrypoint_violation, num_tasks_violation
from mtl_service.spec.catalog.strategies import check_strategy, default_gradient_source
from mtl_service.spec.conditions import ConditionError, parse_condition
from mtl_service.spec.distributed import distributed_violations, fill_distributed_defaults

MAX_SPEC_TEXT_BYTES = 256 * 1024
MAX_TASKS = 64
MAX_NAME_CHARS = 200
MAX_BATCH_SIZE = 1 << 16
OPTIMIZERS = ("adam", "sgd")
DEFAULT_LEARNING_RATES = {"adam": 1e-3, "sgd": 1e-2}
DEFAULT_MAX_ATTEMPTS = 3
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d{1,2})?)$")


def parse_spec_text(text: str) -> spec_pb2.JobSpec:
    """Parse a YAML or JSON job file into a JobSpec (not yet validated).

    Raises InvalidArgument naming `spec_text` (or the offending key) when the
    text is not YAML, not a mapping, or has fields JobSpec does not have.
    """
    if len(text.encode()) > MAX_SPEC_TEXT_BYTES:
        raise _invalid("spec_text", f"is larger than {MAX_SPEC_TEXT_BYTES} bytes")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise _invalid("spec_text", f"is not valid YAML or JSON: {_one_line(error)}") from None
    if not isinstance(data, dict):
        raise _invalid(
            "spec_text", "must be a mapping of JobSpec fields (name, problem, tasks, ...)"
        )
    try:
        return json_format.ParseDict(_spell_non_finite(data), spec_pb2.JobSpec())
    except (json_format.ParseError, TypeError, ValueError) as error:
        raise _invalid("spec_text", _one_line(error)) from None


def _spell_non_finite(value: object) -> object:
    """YAML's .inf/.nan as the strings protobuf JSON expects, so that the
    validator (not the parser) reports them, naming their field."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # JSON \ud800-style escapes decode to lone surrogates protobuf cannot hold.
            raise _invalid(
                "spec_text", f"holds a string that is not valid Unicode: {value!r}"
            ) from None
    if isinstance(value, dict):
        return {_spell_non_finite(key): _spell_non_finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_spell_non_finite(item) for item in value]
    return value


def with_defaults(spec: spec_pb2.JobSpec) -> spec_pb2.JobSpec:
    """A copy of `spec` with every unset field given its documented default.

    A gradient strategy's source is filled in for built-in problems, whose
    architecture is known; a user problem's model may ignore the spec's
    architecture, so its workers choose the source from the model itself.
    """
    filled = spec_pb2.JobSpec()
    filled.CopyFrom(spec)
    filled.model.architecture = filled.model.architecture or "hps"
    filled.weighting.strategy = filled.weighting.strategy or "static"
    architecture = ARCHITECTURES.get(filled.model.architecture)
    strategy = filled.weighting.strategy
    if (
        not filled.weighting.gradient_source
        and filled.problem.name
        and strategy in STRATEGIES
        and architecture is not None
    ):
        filled.weighting.gradient_source = default_gradient_source(
            strategy, architecture.single_representation
        )
    filled.optimizer.name = filled.optimizer.name or "adam"
    if filled.optimizer.learning_rate == 0:
        filled.optimizer.learning_rate = DEFAULT_LEARNING_RATES.get(filled.optimizer.name, 1e-3)
    filled.batch_size = filled.batch_size or 64
    filled.report_interval = filled.report_interval or 10
    filled.checkpoint_interval = filled.checkpoint_interval or 100
    filled.device = filled.device or "auto"
    filled.max_attempts = filled.max_attempts or DEFAULT_MAX_ATTEMPTS
    fill_distributed_defaults(filled)
    return filled


def validate_spec(spec: spec_pb2.JobSpec) -> None:
    """Raise InvalidArgument listing every bad field of a defaulted spec."""
    violations = list(_violations(spec))
    if violations:
        raise InvalidArgument.from_violations(violations)


def spec_sha256(spec: spec_pb2.JobSpec) -> str:
    """Hash of the spec's canonical JSON: equal specs hash equal across runs."""
    canonical = json.dumps(
        json_format.MessageToDict(spec, preserving_proto_field_name=True), sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _violations(spec: spec_pb2.JobSpec) -> Iterator[FieldViolation]:
    if len(spec.name) > MAX_NAME_CHARS:
        yield FieldViolation("name", f"must be at most {MAX_NAME_CHARS} characters")
    problem = yield from _problem_violations(spec.problem)
    known_tasks = problem.offered_tasks(spec.problem.params) if problem is not None else None
    yield from _task_violations(spec, known_tasks)
    yield from _positive("steps", spec.steps)
    yield from _positive("batch_size", spec.batch_size, upper=MAX_BATCH_SIZE)
    yield from _positive("report_interval", spec.report_interval)
    if spec.checkpoint_interval != -1:
        yield from _positive("checkpoint_interval", spec.checkpoint_interval, hint=" or -1")
    for field in ("seed", "stats_interval", "eval_interval", "max_attempts"):
        if getattr(spec, field) < 0:
            yield FieldViolation(field, f"must be >= 0, got {getattr(spec, field)}")
    if not _DEVICE_PATTERN.match(spec.device):
        yield FieldViolation("device", f"must be auto, cpu, cuda or cuda:N, got {spec.device!r}")
    yield from _model_violations(spec, problem)
    yield from _weighting_violations(spec, problem)
    yield from _optimizer_violations(spec.optimizer)
    yield from _validation_violations(spec, problem)
    yield from _breakpoint_violations(spec, problem)
    yield from distributed_violations(spec)


def _problem_violations(
    problem: spec_pb2.ProblemConfig,
) -> Generator[FieldViolation, None, ProblemInfo | None]:
    """Yields violations; returns the built-in problem's entry when there is one."""
    yield from _finite_params("problem.params", problem.params)
    if bool(problem.name) == bool(problem.entrypoint):
        yield FieldViolation(
            "problem", "set exactly one of problem.name (built-in) and problem.entrypoint"
        )
        return None
    if problem.entrypoint:
        yield from _optional("problem.entrypoint", entrypoint_violation(problem.entrypoint))
        return None
    info = PROBLEMS.get(problem.name)
    if info is None:
        yield _unknown("problem.name", problem.name, PROBLEMS)
        return None
    for key in sorted(set(problem.params) - info.params):
        yield FieldViolation(
            f"problem.params.{key}",
            f"is not an option of {problem.name}; options: {sorted(info.params)}",
        )
    count = problem.params.get(NUM_TASKS, math.nan)  # a non-finite one is reported above
    if NUM_TASKS in info.params and math.isfinite(count):
        yield from _optional(f"problem.params.{NUM_TASKS}", num_tasks_violation(info, count))
    return info


def _task_violations(
    spec: spec_pb2.JobSpec, known_tasks: tuple[str, ...] | None
) -> Iterator[FieldViolation]:
    tasks = list(spec.tasks)
    if not tasks:
        hint = f": choose from {list(known_tasks)}" if known_tasks else ""
        yield FieldViolation("tasks", f"must list at least one task{hint}")
    if len(tasks) > MAX_TASKS:
        yield FieldViolation("tasks", f"must list at most {MAX_TASKS} tasks")
    seen: set[str] = set()
    for index, task in enumerate(tasks):
        if task in seen:
            yield FieldViolation(f"tasks[{index}]", f"duplicate task name {task!r}")
        seen.add(task)
        if known_tasks is not None and task not in known_tasks:
            yield FieldViolation(
                f"tasks[{index}]", f"unknown task {task!r}; the problem has {list(known_tasks)}"
            )
        elif not task.isidentifier():
            yield FieldViolation(f"tasks[{index}]", f"task name {task!r} must be an identifier")
    for task, weight in sorted(spec.loss_weights.items()):
        if task not in seen:
            yield FieldViolation(f"loss_weights.{task}", f"is not one of the job's tasks {tasks}")
        if not math.isfinite(weight) or weight < 0:
            yield FieldViolation(f"loss_weights.{task}", f"must be finite and >= 0, got {weight}")


def _model_violations(
    spec: spec_pb2.JobSpec, problem: ProblemInfo | None
) -> Iterator[FieldViolation]:
    """The architecture must exist and fit a built-in problem, whose model
    takes the architecture's options plus the problem's own; a user
    problem's model options are its own business (only finiteness is checked)."""
    name, params = spec.model.architecture, spec.model.params
    yield from _finite_params("model.params", params)
    architecture = ARCHITECTURES.get(name)
    if architecture is None:
        yield _unknown("model.architecture", name, ARCHITECTURES)
        return
    if problem is None:
        return
    if problem.architectures is not None and name not in problem.architectures:
        yield FieldViolation(
            "model.architecture",
            f"{name!r} does not fit problem {spec.problem.name}; "
            f"use one of {sorted(problem.architectures)}",
        )
        return
    options = architecture.params | problem.model_params
    for key in sorted(set(params) - options):
        yield FieldViolation(
            f"model.params.{key}",
            f"is not an option of architecture {name} on {spec.problem.name}; "
            f"options: {sorted(options) or 'none'}",
        )


def _weighting_violations(
    spec: spec_pb2.JobSpec, problem: ProblemInfo | None
) -> Iterator[FieldViolation]:
    # A user problem's model may ignore the spec's architecture, so only a
    # built-in problem's architecture says whether heads share one
    # representation; otherwise the worker checks the source against the model.
    architecture = ARCHITECTURES.get(spec.model.architecture)
    single = problem is None or architecture is None or architecture.single_representation
    weighting = spec.weighting
    for field, message in check_strategy(
        weighting.strategy, weighting.gradient_source, weighting.params, single
    ):
        yield FieldViolation(field, message)


def _validation_violations(
    spec: spec_pb2.JobSpec, problem: ProblemInfo | None
) -> Iterator[FieldViolation]:
    """eval_interval needs a validation split; each single-task baseline
    names a metric of one of the job's tasks and can divide."""
    if spec.eval_interval > 0 and problem is not None and not problem.has_validation:
        yield FieldViolation(
            "eval_interval", f"problem {spec.problem.name} has no validation split; set it to 0"
        )
    if spec.single_task_baselines and spec.eval_interval == 0:
        yield FieldViolation(
            "single_task_baselines", "delta-m% is computed when validation runs; set eval_interval"
        )
    for key, value in sorted(spec.single_task_baselines.items()):
        field = f"single_task_baselines.{key}"
        task, _, metric = key.partition(".")
        if task not in spec.tasks or not metric.isidentifier():
            yield FieldViolation(
                field, f"must be '<task>.<metric>' with a task of the job {list(spec.tasks)}"
            )
        else:
            yield from _optional(field, _unknown_metric(problem, task, metric))
        if not math.isfinite(value) or value == 0:
            yield FieldViolation(field, f"must be finite and non-zero (it divides), got {value}")


def _unknown_metric(problem: ProblemInfo | None, task: str, metric: str) -> str | None:
    """Why a built-in problem's task has no such metric, or None (also when the
    problem or the task is not a built-in one: those are reported elsewhere)."""
    known = problem.metrics.get(task) if problem is not None else None
    if known is None or metric in known:
        return None
    return f"task {task} has no metric {metric!r}; it has {list(known)}"


def _breakpoint_violations(
    spec: spec_pb2.JobSpec, problem: ProblemInfo | None
) -> Iterator[FieldViolation]:
    if len(spec.breakpoints) > MAX_BREAKPOINTS_PER_JOB:
        yield FieldViolation(
            "breakpoints", f"at most {MAX_BREAKPOINTS_PER_JOB} breakpoints per job"
        )
    for index, breakpoint in enumerate(spec.breakpoints):
        field = f"breakpoints[{index}]"
        yield from breakpoint_violations(breakpoint, list(spec.tasks), field)
        yield from _metric_read_violations(spec, problem, breakpoint.condition, field)


def _metric_read_violations(
    spec: spec_pb2.JobSpec, problem: ProblemInfo | None, condition: str, field: str
) -> Iterator[FieldViolation]:
    """A condition reading `metric.<task>.<name>` needs validation to run and
    a metric the task has: otherwise the worker would disarm the breakpoint
    at its first evaluation for want of a value."""
    try:
        names = parse_condition(condition, task_names=list(spec.tasks)).names
    except ConditionError:
        return  # breakpoint_violations reported it
    field = f"{field}.condition"
    metrics = sorted(name for name in names if name.startswith("metric."))
    if metrics and spec.eval_interval == 0:
        yield FieldViolation(
            field,
            f"reads {', '.join(metrics)}, but eval_interval is 0 so no metric is ever computed; "
            "set eval_interval",
        )
    for name in metrics:
        _, task, metric = name.split(".")
        yield from _optional(field, _unknown_metric(problem, task, metric))


def _optimizer_violations(optimizer: spec_pb2.OptimizerConfig) -> Iterator[FieldViolation]:
    if optimizer.name not in OPTIMIZERS:
        yield _unknown("optimizer.name", optimizer.name, OPTIMIZERS)
    if not math.isfinite(optimizer.learning_rate) or optimizer.learning_rate <= 0:
        yield FieldViolation(
            "optimizer.learning_rate", f"must be finite and > 0, got {optimizer.learning_rate}"
        )
    if not 0 <= optimizer.momentum < 1:
        yield FieldViolation("optimizer.momentum", f"must be in [0, 1), got {optimizer.momentum}")
    if not math.isfinite(optimizer.weight_decay) or optimizer.weight_decay < 0:
        yield FieldViolation(
            "optimizer.weight_decay", f"must be finite and >= 0, got {optimizer.weight_decay}"
        )


def _positive(
    field: str, value: int, *, upper: int | None = None, hint: str = ""
) -> Iterator[FieldViolation]:
    if value <= 0:
        yield FieldViolation(field, f"must be > 0{hint}, got {value}")
    elif upper is not None and value > upper:
        yield FieldViolation(field, f"must be at most {upper}, got {value}")


def _optional(field: str, description: str | None) -> Iterator[FieldViolation]:
    """One violation of `field` when there is a description, else none."""
    if description is not None:
        yield FieldViolation(field, description)


def _finite_params(field: str, params: Mapping[str, float]) -> Iterator[FieldViolation]:
    for key, value in sorted(params.items()):
        if not math.isfinite(value):
            yield FieldViolation(f"{field}.{key}", f"must be finite, got {value}")


def _unknown(
    field: str, value: str, known: Mapping[str, object] | tuple[str, ...]
) -> FieldViolation:
    return FieldViolation(field, f"unknown value {value!r}; choose from {sorted(known)}")


def _invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument.from_violations([FieldViolation(field, description)])


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:300]
