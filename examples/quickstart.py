"""`make run`: start the service with one local worker, train the reference job
through the API, show it reach SUCCEEDED, then shut the service down."""

from __future__ import annotations

import sys
from pathlib import Path

from mtl_service.cli.main import watch_job
from mtl_service.cli.render import job_details
from mtl_service.client import MtlClient
from mtl_service.launcher import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    data_dir = ROOT / "mtl-data"
    data_dir.mkdir(exist_ok=True)
    log_path = data_dir / "service.log"
    print(f"starting mtl-service with 1 local worker (log: {log_path})")
    service = ServiceProcess.start(data_dir=data_dir, num_workers=1, log_path=log_path)
    try:
        print(f"service ready on {service.target}, metrics on :{service.metrics_port}/metrics")
        with MtlClient(service.target) as client:
            spec_path = ROOT / "examples" / "reference_job.yaml"
            job = client.submit_text(spec_path.read_text())
            print(f"submitted {spec_path.name} as {job.id}")
            code = watch_job(client, job.id)
            print(job_details(client.get(job.id)))
    finally:
        service.stop()
    print("service stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
