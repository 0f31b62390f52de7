"""Python client of mtl-service: what mtlctl and the tests use.

Example:
    >>> from mtl_service.client import MtlClient
    >>> with MtlClient("localhost:50051") as client:
    ...     job = client.submit_text(open("job.yaml").read())
    ...     client.set_breakpoint(job.id, "loss.depth > 3")
    ...     for event in client.watch(job.id):
    ...         print(event)
"""

from mtl_service.client.debug_client import Snapshot
from mtl_service.client.errors import ClientError
from mtl_service.client.job_client import MtlClient

__all__ = ["ClientError", "MtlClient", "Snapshot"]
