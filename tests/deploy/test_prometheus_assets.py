"""deploy/prometheus: scrape configs and alert rules pass promtool, and their tests pass."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.assets import DEPLOY, PROMETHEUS, printed, run_tool
from tests.deploy.promql import known_metric_names, metric_names

ALERT_NAMES = {
    "MtlJobStalled",
    "MtlJobPausedByNanGuard",
    "MtlWorkerLost",
    "MtlQueueBackingUp",
    "MtlStepTimeRegressed",
    "MtlGrpcErrorRatio",
}


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alert_rules_pass_promtool_check(promtool: str) -> None:
    result = run_tool(promtool, "check", "rules", "alerts.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, printed(result)


def test_alert_unit_tests_pass(promtool: str) -> None:
    result = run_tool(promtool, "test", "rules", "alerts_test.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, printed(result)


def test_alerts_are_the_six_the_runbook_names() -> None:
    assert {rule["alert"] for rule in _alert_rules()} == ALERT_NAMES


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    cases = [case for group in tests for case in group["alert_rule_test"]]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert firing == ALERT_NAMES
    assert quiet == ALERT_NAMES


def test_alert_expressions_use_only_known_metrics() -> None:
    known = known_metric_names()
    for rule in _alert_rules():
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= known, f"{rule['alert']} uses unknown metrics {used - known}"


def test_every_alert_has_a_severity_and_a_summary() -> None:
    for rule in _alert_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_scrape_config_passes_promtool_check(promtool: str) -> None:
    result = run_tool(promtool, "check", "config", "prometheus.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, printed(result)
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["localhost:8000"]


def test_kubernetes_scrape_config_passes_promtool_check(promtool: str, tmp_path: Path) -> None:
    """Debian's promtool is built without Kubernetes discovery: there the
    kubernetes_sd_configs are checked for shape and swapped for a static target,
    so promtool still checks the rest (relabelling, rule files)."""
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path)
    config = yaml.safe_load((PROMETHEUS / "prometheus-k8s.yml").read_text())
    (tmp_path / "as-is.yml").write_text(yaml.safe_dump(config))
    result = run_tool(promtool, "check", "config", "as-is.yml", cwd=tmp_path)
    if "field kubernetes_sd_configs not found" in result.stdout + result.stderr:
        for job in config["scrape_configs"]:
            for discovery in job.pop("kubernetes_sd_configs"):
                assert discovery["role"] == "endpoints"
                assert discovery["namespaces"]["names"] == ["mtl"]
            job["static_configs"] = [{"targets": ["mtl-service.mtl.svc:8000"]}]
        (tmp_path / "static.yml").write_text(yaml.safe_dump(config))
        result = run_tool(promtool, "check", "config", "static.yml", cwd=tmp_path)
    assert result.returncode == 0, printed(result)


def test_prometheus_rule_carries_exactly_the_rules_of_alerts_yml() -> None:
    alerts = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    rule = yaml.safe_load((DEPLOY / "k8s" / "base" / "prometheusrule.yaml").read_text())
    assert rule["spec"] == alerts


def test_rendered_prometheus_rules_equal_alerts_yml(rendered: dict[str, list[dict]]) -> None:
    alerts = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    for overlay, documents in rendered.items():
        (rule,) = [doc for doc in documents if doc["kind"] == "PrometheusRule"]
        assert rule["spec"] == alerts, overlay


def test_the_sync_script_sees_no_drift() -> None:
    script = PROMETHEUS / "sync_prometheusrule.py"
    result = run_tool(sys.executable, str(script), "--check")
    assert result.returncode == 0, printed(result)
