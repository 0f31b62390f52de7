"""Just enough PromQL reading for the asset tests: which metrics an expression uses.

The names the dashboard and the alerts may use are the ones the service
exposes today (read off its metric classes) plus the ones the observability
work is adding; a real Prometheus runs the expressions in another test.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Metric

from mtl_service.server.grpc_metrics import GrpcServerMetrics
from mtl_service.server.metrics import ServiceMetrics

# Named by the observability issue, not defined in mtl_service/server/metrics.py yet.
COMING_METRIC_NAMES = frozenset(
    {
        "mtl_job_paused",
        "mtl_workers_lost_total",
        "mtl_queue_length",
        "mtl_worker_slots",
        "mtl_task_grad_norm",
        "mtl_task_grad_cosine",
        "mtl_gpu_memory_allocated_bytes",
        "mtl_gpu_memory_reserved_bytes",
    }
)

_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "inf", "nan"})


def _exposed(family: Metric) -> set[str]:
    return {family.name + suffix for suffix in _SUFFIXES[family.type]}


def exposed_metric_names() -> frozenset[str]:
    """The series names the service's metric classes expose, labelled or not."""
    registry = CollectorRegistry()
    ServiceMetrics(registry)
    GrpcServerMetrics(registry)
    return frozenset(name for family in registry.collect() for name in _exposed(family))


def known_metric_names() -> frozenset[str]:
    return exposed_metric_names() | COMING_METRIC_NAMES


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects (not functions, labels, keywords or durations)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group().lower() not in _KEYWORDS:
            names.add(match.group())
    return names
