"""Just enough PromQL reading for the asset tests: the expressions the dashboard
and the alert rules hold, and which metrics an expression uses.

The names the dashboard and the alerts may use are the ones the service
exposes (read off its metric classes); a real Prometheus runs the expressions
in test_real_prometheus.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, Metric

from mtl_service.server.grpc_metrics import GrpcServerMetrics
from mtl_service.server.metrics import ServiceMetrics
from tests.deploy.assets import DEPLOY, PROMETHEUS

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "mtl-service.json"
ALERTS = PROMETHEUS / "alerts.yml"

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
_LABEL_VALUES = re.compile(r"label_values\(\s*(\w+)\s*,\s*(\w+)\s*\)")
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "inf", "nan"})


def _exposed(family: Metric) -> set[str]:
    return {family.name + suffix for suffix in _SUFFIXES[family.type]}


def known_metric_names() -> frozenset[str]:
    """The series names the service's metric classes expose, labelled or not."""
    registry = CollectorRegistry()
    ServiceMetrics(registry)
    GrpcServerMetrics(registry)
    return frozenset(name for family in registry.collect() for name in _exposed(family))


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


def dashboard_queries() -> list[str]:
    """Every panel query of the Grafana dashboard, in panel order."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def dashboard_label_values() -> list[tuple[str, str]]:
    """(metric, label) of each `label_values(metric, label)` variable of the dashboard:
    Grafana syntax, which Prometheus answers at /api/v1/label/<label>/values."""
    pairs = []
    for variable in json.loads(DASHBOARD.read_text())["templating"]["list"]:
        if variable["type"] == "query":
            match = _LABEL_VALUES.fullmatch(variable["query"]["query"])
            assert match, f"variable {variable['name']} is not label_values(metric, label)"
            pairs.append((match[1], match[2]))
    return pairs


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of deploy/prometheus/alerts.yml, across its groups."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]
