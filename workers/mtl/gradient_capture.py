"""Per-task gradients on the representation, captured during the step's one backward.

`task_gradients_from_losses` pays T extra head-only backward passes; for
dense heads that upsample to full resolution those are most of a backward.
The step's own backward already runs each head once: the gradient that head
t sends into the representation is s_t * dL_t/dr, s_t being the gradient
the combined loss sends into L_t (its effective weight). Hooks on the
autograd graph read both, s_t at L_t's node and the head's contribution on
each edge into the representation's node, and write row t of the matrix.
Nothing is changed: the backward computes exactly what it would without
the hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor
from torch.autograd.graph import Node

from workers.mtl.weighting.gradients import task_gradient_matrix

Gradients = tuple[Tensor | None, ...]


def capture_representation_gradients(
    losses: Mapping[str, Tensor],
    task_names: Sequence[str],
    representation: Tensor,
    *,
    user_weights: Mapping[str, float],
) -> Tensor | None:
    """A [T, D] matrix that the step's coming backward of a combination of
    `losses` fills, row t with d losses[t] / d representation (flattened).

    Read it only after that backward. A task whose user weight is 0 would
    send nothing into the representation, so its row is computed now, with
    one head-only pass. None when the graph does not allow a capture (the
    representation has no autograd node, or two tasks' heads share a node):
    use `task_gradients_from_losses` then. Loss-weighting strategies give
    every task a positive weight; one that underflowed to 0 would give a
    non-finite row.
    """
    target = representation.grad_fn
    if target is None or any(losses[task].grad_fn is None for task in task_names):
        return None
    edges = _edges_into(target, representation.output_nr, [losses[t] for t in task_names])
    if edges is None:
        return None
    matrix = representation.new_zeros(len(task_names), representation.numel())
    for row, task in enumerate(task_names):
        if float(user_weights.get(task, 1.0)) == 0.0:
            matrix[row] = task_gradient_matrix([losses[task]], [representation])[0]
        else:
            _hook_task(losses[task], edges[row], matrix[row])
    return matrix


def _edges_into(
    target: Node, output_nr: int, losses: Sequence[Tensor]
) -> list[list[tuple[Node, int]]] | None:
    """Per loss, the (node, input index) pairs of its head that read output
    `output_nr` of `target`; None when two losses reach a common node other
    than `target` (then an edge's gradient would mix tasks)."""
    owner: dict[Node, int] = {}
    edges: list[list[tuple[Node, int]]] = []
    for index, loss in enumerate(losses):
        found: list[tuple[Node, int]] = []
        pending: list[Node] = []
        if not _claim(owner, loss.grad_fn, index, pending):
            return None
        while pending:
            node = pending.pop()
            for position, (child, child_output) in enumerate(node.next_functions):
                if child is target:
                    if child_output == output_nr:
                        found.append((node, position))
                elif child is not None and not _claim(owner, child, index, pending):
                    return None
        edges.append(found)
    return edges


def _claim(owner: dict[Node, int], node: Node, index: int, pending: list[Node]) -> bool:
    """Mark `node` as loss `index`'s, queueing it the first time; False when
    another loss has it."""
    seen = owner.get(node)
    if seen is None:
        owner[node] = index
        pending.append(node)
        return True
    return seen == index


def _hook_task(loss: Tensor, edges: list[tuple[Node, int]], row: Tensor) -> None:
    """Record the gradient reaching `loss` (its scale in the combined loss),
    then add each edge's contribution to `row`, divided by that scale."""
    scale: list[Tensor] = []
    loss_output = loss.output_nr

    def record_scale(grad_outputs: Gradients) -> None:
        gradient = grad_outputs[loss_output]
        # A loss the backward does not reach runs no hook below it either.
        scale.append(gradient if gradient is not None else torch.ones(()))

    def add_contribution(position: int) -> Callable[[Gradients, Gradients], None]:
        def hook(grad_inputs: Gradients, grad_outputs: Gradients) -> None:
            gradient = grad_inputs[position]
            if gradient is not None:
                row.add_(gradient.detach().reshape(-1) / scale[-1])

        return hook

    loss.grad_fn.register_prehook(record_scale)
    for node, position in edges:
        node.register_hook(add_contribution(position))
