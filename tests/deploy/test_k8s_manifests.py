"""deploy/k8s: every overlay renders, validates, and runs the programs with flags they accept.

Built-in kinds are validated with kubernetes-validate (strict: unknown fields
fail) against the oldest Kubernetes the manifests support (1.27: gRPC probes
are GA there) and a current one. The Prometheus Operator kinds have no schema
there; they are checked against the subset of their CRD schema we use, and
for what they point at (the Service's labels and port, the alert rules).
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from mtl_service.server.main import build_parser as build_service_parser
from tests.deploy.assets import OVERLAYS
from tests.deploy.operator_schemas import OPERATOR_API, OPERATOR_SCHEMAS

KUBERNETES_VERSIONS = ("1.27", "1.33")
SERVICE_PORTS = {"grpc": 50051, "metrics": 8000}


def _one(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def _pod(documents: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    return _one(documents, "Deployment", deployment)["spec"]["template"]["spec"]


def _config(documents: list[dict[str, Any]]) -> dict[str, str]:
    (config,) = [d for d in documents if d["kind"] == "ConfigMap"]
    return config["data"]


def _expanded_args(documents: list[dict[str, Any]], deployment: str) -> list[str]:
    """The container's args with $(VAR) expanded as the kubelet does it."""
    (container,) = _pod(documents, deployment)["containers"]
    env = dict(_config(documents))
    env.update({e["name"]: f"<{e['name']}>" for e in container.get("env", [])})
    return [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg) for arg in container["args"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_document_validates(
    rendered: dict[str, list[dict]], overlay: str, version: str
) -> None:
    kinds = set()
    for document in rendered[overlay]:
        kinds.add(document["kind"])
        if document["apiVersion"] == OPERATOR_API:
            jsonschema.validate(document, OPERATOR_SCHEMAS[document["kind"]])
        else:
            kubernetes_validate.validate(document, version, strict=True)
    assert kinds == {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Service",
        "PersistentVolumeClaim",
        "Deployment",
        "ServiceMonitor",
        "PrometheusRule",
    }


def test_validation_rejects_a_misspelt_field(rendered: dict[str, list[dict]]) -> None:
    deployment = _one(rendered["cpu"], "Deployment", "mtl-service")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)
    monitor = _one(rendered["cpu"], "ServiceMonitor", "mtl-service")
    broken = {**monitor, "spec": {**monitor["spec"], "endpoint": [{"port": "metrics"}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, OPERATOR_SCHEMAS["ServiceMonitor"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_service_is_one_recreated_replica_with_grpc_health_probes(
    rendered: dict[str, list[dict]], overlay: str
) -> None:
    deployment = _one(rendered[overlay], "Deployment", "mtl-service")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": SERVICE_PORTS["grpc"]}, probe
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == SERVICE_PORTS


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_service_runs_serve_with_flags_the_cli_accepts(
    rendered: dict[str, list[dict]], overlay: str
) -> None:
    (container,) = _pod(rendered[overlay], "mtl-service")["containers"]
    assert container["command"] == ["mtl-service"]
    args = build_service_parser().parse_args(_expanded_args(rendered[overlay], "mtl-service"))
    assert args.command == "serve"
    assert args.workers == 0
    assert str(args.data_dir) == "/data"
    assert (args.port, args.metrics_port) == (SERVICE_PORTS["grpc"], SERVICE_PORTS["metrics"])
    assert (
        args.grace_seconds < _pod(rendered[overlay], "mtl-service")["terminationGracePeriodSeconds"]
    ), "the service must finish its graceful shutdown before the kubelet kills it"


@pytest.mark.parametrize(
    ("overlay", "device", "num_threads"), [("cpu", "cpu", 4), ("gpu", "cuda", 0)]
)
def test_workers_dial_the_service_with_flags_the_cli_accepts(
    rendered: dict[str, list[dict]], overlay: str, device: str, num_threads: int
) -> None:
    from workers.main import build_parser as build_worker_parser  # imports torch

    (container,) = _pod(rendered[overlay], "mtl-worker")["containers"]
    assert container["command"] == ["mtl-worker"]
    args = build_worker_parser().parse_args(_expanded_args(rendered[overlay], "mtl-worker"))
    service = _one(rendered[overlay], "Service", "mtl-service")
    grpc_port = {p["name"]: p["port"] for p in service["spec"]["ports"]}["grpc"]
    assert args.service == f"{service['metadata']['name']}:{grpc_port}"
    assert str(args.data_dir) == "/data"
    assert (args.device, args.num_threads) == (device, num_threads)


def test_only_the_gpu_overlay_asks_for_a_gpu(rendered: dict[str, list[dict]]) -> None:
    def gpus(overlay: str) -> tuple[str | None, str | None]:
        (container,) = _pod(rendered[overlay], "mtl-worker")["containers"]
        resources = container["resources"]
        return (
            resources.get("requests", {}).get("nvidia.com/gpu"),
            resources.get("limits", {}).get("nvidia.com/gpu"),
        )

    assert gpus("gpu") == (1, 1)
    assert gpus("cpu") == (None, None)
    (container,) = _pod(rendered["cpu"], "mtl-worker")["containers"]
    assert container["resources"]["requests"]["cpu"] == _config(rendered["cpu"])["MTL_NUM_THREADS"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_locked_down_with_a_writable_tmp(
    rendered: dict[str, list[dict]], overlay: str
) -> None:
    for deployment in ("mtl-service", "mtl-worker"):
        pod = _pod(rendered[overlay], deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["terminationGracePeriodSeconds"] == 60
        empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, deployment
            assert security["readOnlyRootFilesystem"] is True, deployment
            assert security["capabilities"] == {"drop": ["ALL"]}, deployment
            assert "limits" in container["resources"] and "requests" in container["resources"]
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and tmp[0]["name"] in empty_dirs, deployment


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_and_workers_share_one_read_write_many_volume_at_data(
    rendered: dict[str, list[dict]], overlay: str
) -> None:
    claims = set()
    for deployment in ("mtl-service", "mtl-worker"):
        pod = _pod(rendered[overlay], deployment)
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        (data,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/data"]
        claims.add(volumes[data["name"]]["persistentVolumeClaim"]["claimName"])
    (claim,) = claims
    pvc = _one(rendered[overlay], "PersistentVolumeClaim", claim)
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_auth_tokens_secret_is_mounted_into_the_service_as_a_file(
    rendered: dict[str, list[dict]], overlay: str
) -> None:
    pod = _pod(rendered[overlay], "mtl-service")
    (secret_volume,) = [v for v in pod["volumes"] if "secret" in v]
    secret = _one(rendered[overlay], "Secret", secret_volume["secret"]["secretName"])
    assert set(secret["data"]) == {"tokens"}
    (container,) = pod["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == secret_volume["name"]]
    assert mount["mountPath"] == "/etc/mtl/auth" and mount["readOnly"] is True
    assert not any(arg.startswith("--auth-tokens") for arg in container["args"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_service_monitor_scrapes_the_metrics_port_of_the_service(
    rendered: dict[str, list[dict]], overlay: str
) -> None:
    monitor = _one(rendered[overlay], "ServiceMonitor", "mtl-service")
    service = _one(rendered[overlay], "Service", "mtl-service")
    assert service["spec"]["type"] == "ClusterIP"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports == SERVICE_PORTS
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    pod_labels = _one(rendered[overlay], "Deployment", "mtl-service")["spec"]["template"][
        "metadata"
    ]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_set_by_the_overlay(rendered: dict[str, list[dict]], overlay: str) -> None:
    for deployment in ("mtl-service", "mtl-worker"):
        (container,) = _pod(rendered[overlay], deployment)["containers"]
        assert ":" in container["image"] and "/" in container["image"], container["image"]
    (worker,) = _pod(rendered[overlay], "mtl-worker")["containers"]
    assert worker["image"].endswith(f"-{'cuda' if overlay == 'gpu' else 'cpu'}")
