"""Which tensors a snapshot takes: `kind:glob` selectors over a model, its batch and its losses.

Kinds and the names they match (fnmatch globs, `*` also crosses dots):

- `param:<name>`, `grad:<name>`, `buffer:<name>`: `model.named_parameters()` /
  `named_buffers()` names, e.g. `param:trunk.*`, `grad:heads.depth.*`;
- `activation:<module>`: outputs of `model.named_modules()`, e.g.
  `activation:trunk.2`, taken with `capture_activations` during a forward;
- `batch:inputs` (or `batch:inputs.<key>` for dict inputs), `batch:targets.<task>`;
- `loss:<task>`: the step's per-task losses.

Selected tensors are detached but not copied: read or copy them at the step
boundary, before `optimizer.step()` changes them. Pass the unwrapped model
(not the DDP wrapper), so names carry no `module.` prefix.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from mtl_service.spec.breakpoints import SELECTOR_KINDS


class SelectorError(ValueError):
    """A selector that is malformed or matches nothing."""


@dataclass(frozen=True, slots=True)
class Selector:
    """One `kind:glob` selector; `str()` gives its text back."""

    kind: str
    pattern: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.pattern}"

    def matches(self, name: str) -> bool:
        """Whether `name` (without the kind prefix) matches the glob."""
        return fnmatch.fnmatchcase(name, self.pattern)


@dataclass(slots=True)
class Selection:
    """The outcome of `select_tensors`.

    Attributes:
        tensors: selected tensors by prefixed name, e.g. `grad:trunk.0.weight`.
        missing: prefixed names that matched but have no tensor, e.g. the
            gradient of a parameter no loss reached this step (`.grad` is None).
    """

    tensors: dict[str, Tensor] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def parse_selector(text: str) -> Selector:
    """`"grad:heads.*"` -> Selector("grad", "heads.*"); SelectorError when malformed."""
    kind, colon, pattern = text.partition(":")
    if not colon or kind not in SELECTOR_KINDS or not pattern:
        raise SelectorError(
            f"bad selector {text!r}: write kind:glob with kind one of "
            f"{', '.join(SELECTOR_KINDS)}, e.g. param:trunk.* or loss:*"
        )
    return Selector(kind, pattern)


def select_tensors(
    selectors: Sequence[Selector | str],
    *,
    model: nn.Module,
    batch_inputs: Tensor | Mapping[str, Tensor],
    batch_targets: Mapping[str, Tensor],
    losses: Mapping[str, Tensor],
) -> Selection:
    """Tensors matching the selectors, except activations (see `capture_activations`).

    Raises SelectorError for an activation selector or one that matches nothing.
    """
    sources = _sources(model, batch_inputs, batch_targets, losses)
    selection = Selection()
    for selector in map(_as_selector, selectors):
        if selector.kind == "activation":
            raise SelectorError(f"{selector} is taken during a forward: use capture_activations")
        candidates = sources[selector.kind]
        matched = [name for name in candidates if selector.matches(name)]
        if not matched:
            raise _no_match(selector, list(candidates))
        for name in matched:
            tensor = candidates[name]
            if tensor is None:
                selection.missing.append(f"{selector.kind}:{name}")
            else:
                selection.tensors[f"{selector.kind}:{name}"] = tensor.detach()
    return selection


@contextmanager
def capture_activations(model: nn.Module, globs: Sequence[str]) -> Iterator[dict[str, Tensor]]:
    """Record the outputs of the modules whose names match `globs` while inside the `with`.

    Hooks go only on matching modules and are removed on exit, so a model
    costs nothing outside the `with`. Outputs are stored as detached copies
    (an in-place op later in the forward would otherwise change them) under
    `activation:<module>`; a tuple or list output as `activation:<module>[i]`,
    a dict output as `activation:<module>[key]`. A module called twice keeps
    its last output. The root module (name "") is never matched.

    Example: `with capture_activations(model, ["trunk.*"]) as captured: model(x)`
    leaves `captured["activation:trunk.0"]`, ... after the forward.
    """
    modules = {name: m for name, m in model.named_modules() if name}
    captured: dict[str, Tensor] = {}
    handles = []
    try:
        for glob in globs:
            matched = [name for name in modules if fnmatch.fnmatchcase(name, glob)]
            if not matched:
                raise _no_match(Selector("activation", glob), list(modules))
            for name in matched:
                hook = _recorder(f"activation:{name}", captured)
                handles.append(modules[name].register_forward_hook(hook))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def _recorder(prefix: str, captured: dict[str, Tensor]) -> Any:
    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        del module, inputs
        captured.update(_flatten(prefix, output))

    return hook


def _flatten(prefix: str, output: Any) -> dict[str, Tensor]:
    if isinstance(output, Tensor):
        return {prefix: output.detach().clone()}
    if isinstance(output, tuple | list):
        output = dict(enumerate(output))
    if isinstance(output, Mapping):
        flat: dict[str, Tensor] = {}
        for key, value in output.items():
            flat.update(_flatten(f"{prefix}[{key}]", value))
        return flat
    return {}


def _as_selector(selector: Selector | str) -> Selector:
    return selector if isinstance(selector, Selector) else parse_selector(selector)


def _sources(
    model: nn.Module,
    batch_inputs: Tensor | Mapping[str, Tensor],
    batch_targets: Mapping[str, Tensor],
    losses: Mapping[str, Tensor],
) -> dict[str, dict[str, Tensor | None]]:
    inputs = (
        {"inputs": batch_inputs}
        if isinstance(batch_inputs, Tensor)
        else {f"inputs.{key}": value for key, value in batch_inputs.items()}
    )
    params = dict(model.named_parameters())
    return {
        "param": dict(params),
        "grad": {name: p.grad for name, p in params.items()},
        "buffer": dict(model.named_buffers()),
        "batch": {**inputs, **{f"targets.{task}": t for task, t in batch_targets.items()}},
        "loss": dict(losses),
    }


def _no_match(selector: Selector, available: list[str]) -> SelectorError:
    shown = ", ".join(available[:8]) + (
        f" and {len(available) - 8} more" if len(available) > 8 else ""
    )
    close = difflib.get_close_matches(selector.pattern, available, n=1)
    guess = f"did you mean {selector.kind}:{close[0]}? " if close else ""
    return SelectorError(
        f"{selector} matches nothing; {guess}{selector.kind} names are: {shown or '(none)'}"
    )
