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
from mtl_service.spec.catalog import ARCHITECTURES, PROBLEMS, STRATEGIES

MAX_SPEC_TEXT_BYTES = 256 * 1024
MAX_TASKS = 64
MAX_NAME_CHARS = 200
MAX_BATCH_SIZE = 1 << 16
OPTIMIZERS = ("adam", "sgd")
DEFAULT_LEARNING_RATES = {"adam": 1e-3, "sgd": 1e-2}
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d{1,2})?)$")
_ENTRYPOINT_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


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
    if isinstance(value, dict):
        return {key: _spell_non_finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_spell_non_finite(item) for item in value]
    return value


def with_defaults(spec: spec_pb2.JobSpec) -> spec_pb2.JobSpec:
    """A copy of `spec` with every unset field given its documented default."""
    filled = spec_pb2.JobSpec()
    filled.CopyFrom(spec)
    filled.model.architecture = filled.model.architecture or "hps"
    filled.weighting.strategy = filled.weighting.strategy or "static"
    strategy = STRATEGIES.get(filled.weighting.strategy)
    if not filled.weighting.gradient_source and strategy is not None and strategy.sources:
        architecture = ARCHITECTURES.get(filled.model.architecture)
        single = architecture is None or architecture.single_representation
        filled.weighting.gradient_source = (
            "representation"
            if single and "representation" in strategy.sources
            else sorted(strategy.sources)[-1]
        )
    filled.optimizer.name = filled.optimizer.name or "adam"
    if filled.optimizer.learning_rate == 0:
        filled.optimizer.learning_rate = DEFAULT_LEARNING_RATES.get(filled.optimizer.name, 1e-3)
    filled.batch_size = filled.batch_size or 64
    filled.report_interval = filled.report_interval or 10
    filled.checkpoint_interval = filled.checkpoint_interval or 100
    filled.device = filled.device or "auto"
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
    known_tasks = yield from _problem_violations(spec.problem)
    yield from _task_violations(spec, known_tasks)
    yield from _positive("steps", spec.steps)
    yield from _positive("batch_size", spec.batch_size, upper=MAX_BATCH_SIZE)
    yield from _positive("report_interval", spec.report_interval)
    if spec.checkpoint_interval != -1:
        yield from _positive("checkpoint_interval", spec.checkpoint_interval, hint=" or -1")
    if spec.seed < 0:
        yield FieldViolation("seed", f"must be >= 0, got {spec.seed}")
    if not _DEVICE_PATTERN.match(spec.device):
        yield FieldViolation("device", f"must be auto, cpu, cuda or cuda:N, got {spec.device!r}")
    if spec.model.architecture not in ARCHITECTURES:
        yield _unknown("model.architecture", spec.model.architecture, ARCHITECTURES)
    yield from _finite_params("model.params", spec.model.params)
    yield from _weighting_violations(spec.weighting)
    yield from _optimizer_violations(spec.optimizer)
    if spec.stats_interval < 0:
        yield FieldViolation("stats_interval", f"must be >= 0, got {spec.stats_interval}")
    yield from _breakpoint_violations(spec)


def _breakpoint_violations(spec: spec_pb2.JobSpec) -> Iterator[FieldViolation]:
    if len(spec.breakpoints) > MAX_BREAKPOINTS_PER_JOB:
        yield FieldViolation(
            "breakpoints", f"at most {MAX_BREAKPOINTS_PER_JOB} breakpoints per job"
        )
    for index, breakpoint in enumerate(spec.breakpoints):
        yield from breakpoint_violations(breakpoint, list(spec.tasks), f"breakpoints[{index}]")


def _problem_violations(
    problem: spec_pb2.ProblemConfig,
) -> Generator[FieldViolation, None, tuple[str, ...] | None]:
    """Yields violations; returns the problem's task names when they are known."""
    yield from _finite_params("problem.params", problem.params)
    if bool(problem.name) == bool(problem.entrypoint):
        yield FieldViolation(
            "problem", "set exactly one of problem.name (built-in) and problem.entrypoint"
        )
        return None
    if problem.entrypoint:
        if not _ENTRYPOINT_PATTERN.match(problem.entrypoint):
            yield FieldViolation(
                "problem.entrypoint",
                f"must look like 'package.module:function', got {problem.entrypoint!r}",
            )
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
    return info.tasks


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


def _weighting_violations(weighting: spec_pb2.WeightingConfig) -> Iterator[FieldViolation]:
    info = STRATEGIES.get(weighting.strategy)
    if info is None:
        yield _unknown("weighting.strategy", weighting.strategy, STRATEGIES)
        return
    yield from _finite_params("weighting.params", weighting.params)
    for key in sorted(set(weighting.params) - info.params):
        yield FieldViolation(
            f"weighting.params.{key}",
            f"is not an option of {weighting.strategy}; options: {sorted(info.params)}",
        )
    if weighting.gradient_source and weighting.gradient_source not in info.sources:
        allowed = sorted(info.sources) or "none (it is loss-based; leave it empty)"
        yield FieldViolation(
            "weighting.gradient_source",
            f"{weighting.strategy} supports {allowed}, got {weighting.gradient_source!r}",
        )


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
