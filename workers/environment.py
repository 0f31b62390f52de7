"""What a job ran on: recorded once per attempt and shown by GetJob."""

from __future__ import annotations

import platform
import socket

import torch

from mtl.v1 import job_pb2


def resolve_device(requested: str, worker_device: str) -> torch.device:
    """The device a job trains on: the spec's choice, "auto" meaning the worker's slot.

    Raises ValueError when the spec asks for CUDA on a worker without it.
    """
    if requested in ("", "auto"):
        requested = worker_device
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"the job asks for device {requested!r} but this worker has no CUDA")
    return device


def describe_device(device: torch.device) -> tuple[str, str]:
    """(device string, human-readable name) for registration and the job environment."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index}", torch.cuda.get_device_name(index)
    return "cpu", platform.processor() or platform.machine()


def job_environment(device: torch.device, worker_id: str) -> job_pb2.JobEnvironment:
    device_string, device_name = describe_device(device)
    return job_pb2.JobEnvironment(
        python_version=platform.python_version(),
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda or "",
        device=f"{device_string} ({device_name})",
        hostname=socket.gethostname(),
        worker_id=worker_id,
        platform=platform.platform(),
        num_threads=torch.get_num_threads(),
    )
