"""What the service knows of the workers' built-ins without importing torch.

The service validates specs at submit time against these tables, and
`mtlctl problems` lists them; the workers' registries (`workers.mtl.*`) hold
the implementations under the same names, and tests fail when the two
disagree: tests/unit/test_problems.py (problems, their tasks, architectures),
tests/unit/test_validation.py (each task's metrics) and
tests/unit/test_weighting_catalog.py (strategies, sources, params).
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
