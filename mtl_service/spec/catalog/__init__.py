"""What the service knows of the workers' built-ins without importing torch.

The service validates specs at submit time against these tables; the
workers' registries (`workers.mtl.*`) hold the implementations under the same
names, and tests/test_catalog.py fails when the two disagree.
"""

from mtl_service.spec.catalog.architectures import ARCHITECTURES, ArchitectureInfo
from mtl_service.spec.catalog.problems import PROBLEMS, ProblemInfo
from mtl_service.spec.catalog.strategies import STRATEGIES, StrategyInfo

__all__ = [
    "ARCHITECTURES",
    "PROBLEMS",
    "STRATEGIES",
    "ArchitectureInfo",
    "ProblemInfo",
    "StrategyInfo",
]
