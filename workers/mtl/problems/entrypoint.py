"""Loading a user problem from a job spec's `problem.entrypoint` ("package.module:function").

The function has the built-ins' signature, `build(params, seed) -> Problem`.
The module is imported with importlib (never eval/exec) from the worker's
sys.path, so the package must be installed on the worker or be on its
PYTHONPATH. Every way the entrypoint can be wrong is a ValueError that says
what to fix.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Mapping, Sequence

from workers.mtl.model import MultiTaskModel
from workers.mtl.problem import ModelBuilder, Problem, Task

# The same pattern as mtl_service.spec.catalog.problems.ENTRYPOINT_PATTERN,
# which the service checks at submit time; a test keeps the two equal.
ENTRYPOINT_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def load_entrypoint(entrypoint: str, params: Mapping[str, float], seed: int) -> Problem:
    """Import `module:function`, call it with (params, seed) and check the result.

    The returned Problem's `build_model` checks what the user's builder returns.
    """
    if not ENTRYPOINT_PATTERN.match(entrypoint):
        raise ValueError(
            f"problem.entrypoint {entrypoint!r} must look like 'package.module:function' "
            "(a dotted module path, a colon, a function name)"
        )
    module_name, function_name = entrypoint.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"problem.entrypoint {entrypoint!r}: cannot import module {module_name!r} "
            f"({type(error).__name__}: {error}); install the package on the worker or "
            "add its folder to the worker's PYTHONPATH"
        ) from error
    if not hasattr(module, function_name):
        raise ValueError(
            f"problem.entrypoint {entrypoint!r}: module {module_name!r} has no attribute "
            f"{function_name!r}; it must define {function_name}(params, seed) -> Problem"
        )
    factory = getattr(module, function_name)
    if not callable(factory):
        raise ValueError(
            f"problem.entrypoint {entrypoint!r}: {function_name!r} is a "
            f"{type(factory).__name__}, not a function; it must be {function_name}(params, seed)"
        )
    problem = factory(params, seed)
    if not isinstance(problem, Problem):
        raise ValueError(
            f"problem.entrypoint {entrypoint!r} returned a {type(problem).__name__}; "
            "it must return a workers.mtl.problem.Problem"
        )
    return dataclasses.replace(
        problem, build_model=_checked_builder(entrypoint, problem.build_model)
    )


def _checked_builder(entrypoint: str, build_model: ModelBuilder) -> ModelBuilder:
    """`build_model`, raising a ValueError when it returns anything but a
    MultiTaskModel with the requested tasks in order."""

    def checked(
        architecture: str, params: Mapping[str, float], tasks: Sequence[Task]
    ) -> MultiTaskModel:
        model = build_model(architecture, params, tasks)
        if not isinstance(model, MultiTaskModel):
            raise ValueError(
                f"problem.entrypoint {entrypoint!r}: build_model returned a "
                f"{type(model).__name__}; it must return a workers.mtl.model.MultiTaskModel"
            )
        requested = [task.name for task in tasks]
        if list(model.task_names) != requested:
            raise ValueError(
                f"problem.entrypoint {entrypoint!r}: build_model was asked for tasks "
                f"{requested} and returned a model for {list(model.task_names)}"
            )
        return model

    return checked
