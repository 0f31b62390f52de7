"""deploy/grafana: the dashboard parses, every query is PromQL over known metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.assets import DEPLOY, printed, run_tool
from tests.deploy.promql import known_metric_names, metric_names

GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "mtl-service.json"
JOB_ID_QUERY = "label_values(mtl_job_step, job_id)"
# Series carrying a job_id label: their panels follow the dashboard's job picker.
PER_JOB_METRICS = {
    "mtl_job_step",
    "mtl_job_paused",
    "mtl_task_loss",
    "mtl_task_loss_weight",
    "mtl_task_grad_norm",
    "mtl_task_grad_cosine",
    "mtl_train_samples_total",
    "mtl_step_duration_seconds_bucket",
    "mtl_step_duration_seconds_sum",
    "mtl_job_debug_seconds_total",
}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _panels() -> list[dict[str, Any]]:
    return [panel for panel in _dashboard()["panels"] if panel["type"] != "row"]


def _exprs() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel["targets"]]


def test_the_dashboard_has_a_job_id_variable_from_mtl_job_step() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "mtl-service"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    job_id = variables["job_id"]
    assert job_id["type"] == "query"
    assert job_id["query"]["query"] == job_id["definition"] == JOB_ID_QUERY
    assert job_id["includeAll"] and job_id["allValue"] == ".*"


def test_every_panel_has_a_query_of_known_metrics() -> None:
    known = known_metric_names()
    for panel in _panels():
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            used = metric_names(target["expr"])
            assert used, f"{panel['title']}: {target['expr']}"
            assert used <= known, f"{panel['title']} uses unknown metrics {used - known}"


def test_the_dashboard_covers_every_metric_it_was_asked_to_show() -> None:
    used = set().union(*(metric_names(expr) for expr in _exprs()))
    assert PER_JOB_METRICS - {"mtl_job_paused"} <= used
    assert {
        "mtl_jobs",
        "mtl_queue_length",
        "mtl_workers",
        "mtl_worker_slots",
        "mtl_workers_lost_total",
        "mtl_gpu_memory_allocated_bytes",
        "mtl_gpu_memory_reserved_bytes",
        "grpc_server_started_total",
        "grpc_server_handled_total",
        "grpc_server_handling_seconds_bucket",
        "grpc_server_msg_received_total",
        "grpc_server_msg_sent_total",
    } <= used


def test_per_job_panels_follow_the_job_picker() -> None:
    for expr in _exprs():
        if metric_names(expr) & PER_JOB_METRICS:
            assert 'job_id=~"$job_id"' in expr, expr


def test_the_cosine_panel_is_a_heatmap_from_minus_one_to_one() -> None:
    (panel,) = [p for p in _panels() if "mtl_task_grad_cosine" in p["targets"][0]["expr"]]
    assert panel["type"] == "heatmap"
    assert panel["options"]["calculate"] is False
    assert (panel["options"]["color"]["min"], panel["options"]["color"]["max"]) == (-1, 1)


def test_panels_have_unique_ids_and_fit_the_grid() -> None:
    panels = _dashboard()["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_every_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """promtool parses each query as a recording rule, `$job_id` chosen as "All"."""
    rules = [
        {"record": f"dashboard:query_{index}", "expr": expr.replace("$job_id", ".*")}
        for index, expr in enumerate(_exprs())
    ]
    (tmp_path / "dashboard_queries.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    result = run_tool(promtool, "check", "rules", "dashboard_queries.yml", cwd=tmp_path)
    assert result.returncode == 0, printed(result)


def test_provisioning_points_grafana_at_prometheus_and_the_dashboard() -> None:
    provisioning = GRAFANA / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    (datasource,) = datasources["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"].startswith("http")
    providers = yaml.safe_load((provisioning / "dashboards" / "mtl-service.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
