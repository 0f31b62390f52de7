"""The building blocks a problem hands to an architecture."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from torch import nn

from workers.mtl.problem import Task


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelParts:
    """Factories for a problem's blocks; an architecture decides how to share them.

    Attributes:
        make_encoder: a fresh trunk: inputs -> features of `feature_size`
            (per position for dense problems). HPS builds one, MMoE and CGC
            build several (experts).
        feature_size: width (channels) of the encoder's output.
        make_head: a fresh head for a task: features -> the task's prediction.
        input_size: flattened width of one input, for gates that read the input.
        make_encoder_layers: a fresh encoder split into its layers, applied in
            order; the same computation as `make_encoder`. Architectures that
            work between layers need it (cross-stitch units, PLE levels);
            None when the problem's encoder cannot be split.
        layer_sizes: output width (channels) of each of those layers; the last
            is `feature_size`. Gates of later PLE levels read these widths.
    """

    make_encoder: Callable[[], nn.Module]
    feature_size: int
    make_head: Callable[[Task], nn.Module]
    input_size: int
    make_encoder_layers: Callable[[], nn.ModuleList] | None = None
    layer_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.make_encoder_layers is None:
            return
        if not self.layer_sizes or self.layer_sizes[-1] != self.feature_size:
            raise ValueError(
                "layer_sizes must list the output width of every encoder layer, "
                f"ending with feature_size {self.feature_size}; got {self.layer_sizes}"
            )

    @classmethod
    def from_layers(
        cls,
        *,
        make_encoder_layers: Callable[[], nn.ModuleList],
        layer_sizes: Sequence[int],
        make_head: Callable[[Task], nn.Module],
        input_size: int,
    ) -> ModelParts:
        """Parts whose encoder is its layers in sequence, so every architecture applies."""

        def make_encoder() -> nn.Module:
            return nn.Sequential(*make_encoder_layers())

        return cls(
            make_encoder=make_encoder,
            feature_size=layer_sizes[-1],
            make_head=make_head,
            input_size=input_size,
            make_encoder_layers=make_encoder_layers,
            layer_sizes=tuple(layer_sizes),
        )

    @property
    def num_layers(self) -> int:
        """How many layers `make_encoder_layers` returns (0 when it is None)."""
        return len(self.layer_sizes)

    def encoder_layers(self, architecture: str) -> nn.ModuleList:
        """A fresh encoder split into layers; ValueError when the problem gives none."""
        if self.make_encoder_layers is None:
            raise ValueError(
                f"architecture {architecture!r} needs the problem's encoder split into layers "
                "(ModelParts.make_encoder_layers) and this problem gives a single block; "
                "use 'hps', 'mmoe' or 'ple' with num_levels 1"
            )
        layers = self.make_encoder_layers()
        assert len(layers) == self.num_layers, "make_encoder_layers disagrees with layer_sizes"
        return layers


def mlp_parts(
    *, input_size: int, hidden_sizes: Sequence[int], head_hidden_size: int | None = None
) -> ModelParts:
    """Parts for vector inputs: a trunk of Linear+ReLU layers of `hidden_sizes`, and
    heads that are one Linear, or Linear+ReLU+Linear when `head_hidden_size` is set."""
    widths = [input_size, *hidden_sizes]

    def make_encoder_layers() -> nn.ModuleList:
        return nn.ModuleList(
            nn.Sequential(nn.Linear(width_in, width_out), nn.ReLU())
            for width_in, width_out in pairwise(widths)
        )

    def make_head(task: Task) -> nn.Module:
        if head_hidden_size is None:
            return nn.Linear(widths[-1], task.output_size)
        return nn.Sequential(
            nn.Linear(widths[-1], head_hidden_size),
            nn.ReLU(),
            nn.Linear(head_hidden_size, task.output_size),
        )

    return ModelParts.from_layers(
        make_encoder_layers=make_encoder_layers,
        layer_sizes=hidden_sizes,
        make_head=make_head,
        input_size=input_size,
    )
