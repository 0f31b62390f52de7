"""Procedural indoor scenes with dense labels, rendered on demand from (seed, index).

A scene is a back wall, a floor, sometimes a ceiling, and a few box-shaped
planar objects in front of them. Every surface is a plane, so depth varies
linearly over it and its normal is constant; a z-buffer decides what each
pixel sees. The pixel colour comes from the class (a fixed palette), the
normal (Lambert shading) and the depth (haze), plus noise: segmentation,
depth and normals are each learnable from the image, and related to each
other, as in NYUv2. Class ids follow NYUv2's 13-class split.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from workers.mtl.data import Batch

NUM_CLASSES = 13
"""0 bed, 1 books, 2 ceiling, 3 chair, 4 floor, 5 furniture, 6 objects,
7 picture, 8 sofa, 9 table, 10 tv, 11 wall, 12 window."""
CEILING, FLOOR, WALL = 2, 4, 11
OBJECT_CLASSES = torch.tensor([0, 1, 3, 5, 6, 7, 8, 9, 10, 12])
NUM_OBJECTS = 6
NEAREST_DEPTH = 1.0
# Light from up-left behind the camera; image coordinates have y pointing down.
TO_LIGHT = F.normalize(torch.tensor([-0.3, -0.5, -0.8]), dim=0)
HAZE_DEPTH = 15.0
NOISE_STD = 0.03
# Measured over many scenes, so inputs come out roughly standardised.
IMAGE_MEAN, IMAGE_STD = 0.15, 0.1
_PALETTE = 0.1 + 0.8 * torch.rand(NUM_CLASSES, 3, generator=torch.Generator().manual_seed(0))


class SceneDataset:
    """`num_samples` scenes of height x width pixels; sample i depends only on (seed, i).

    Targets: "segmentation" [H, W] class ids, "depth" [H, W] in metres,
    "normal" [3, H, W] unit vectors. Inputs: [3, H, W], roughly standardised.
    """

    def __init__(self, *, num_samples: int, seed: int, height: int, width: int) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.height = height
        self.width = width

    def __len__(self) -> int:
        return self.num_samples

    def batch(self, indices: Tensor) -> Batch:
        scenes = [self.render(int(index)) for index in indices]
        stacked = (torch.stack(parts) for parts in zip(*scenes, strict=True))
        image, segmentation, depth, normal = stacked
        return Batch(
            inputs=image,
            targets={"segmentation": segmentation, "depth": depth, "normal": normal},
        )

    def render(self, index: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(image [3, H, W], segmentation [H, W], depth [H, W], normal [3, H, W])."""
        if not 0 <= index < self.num_samples:
            raise IndexError(f"scene {index} is outside 0..{self.num_samples - 1}")
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        labels, boxes, planes = _scene_layout(generator)
        rows = torch.linspace(-1.0, 1.0, self.height).view(1, -1, 1)
        cols = torch.linspace(-1.0, 1.0, self.width).view(1, 1, -1)
        inside = (rows >= boxes[:, 0:1, None]) & (rows < boxes[:, 1:2, None])
        inside = inside & (cols >= boxes[:, 2:3, None]) & (cols < boxes[:, 3:4, None])
        layer_depth = (
            planes[:, 0:1, None] + planes[:, 1:2, None] * cols + planes[:, 2:3, None] * rows
        )
        layer_depth = torch.where(inside, layer_depth.clamp(min=NEAREST_DEPTH), torch.inf)
        depth, visible = layer_depth.min(dim=0)
        normals = F.normalize(torch.cat([planes[:, 1:3], -torch.ones(len(planes), 1)], 1), dim=1)
        normal = normals[visible].permute(2, 0, 1)
        segmentation = labels[visible]
        return _shade(segmentation, normal, depth, generator), segmentation, depth, normal


def _scene_layout(generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Per layer: class [L], box [L, 4] (top, bottom, left, right in [-1, 1]) and
    plane [L, 3] (depth = d0 + a * x + b * y over the box)."""

    def uniform(low: float, high: float, count: int = 1) -> Tensor:
        return low + (high - low) * torch.rand(count, generator=generator)

    wall_depth = float(uniform(6.0, 9.0))
    far = wall_depth + 0.5
    horizon, ceiling_line = float(uniform(-0.1, 0.3)), float(uniform(-1.2, -0.6))
    floor_slope = (NEAREST_DEPTH - far) / (1.0 - horizon)
    ceiling_slope = (far - 2.5) / (ceiling_line + 1.0) if ceiling_line > -1.0 else 0.0
    room_labels = torch.tensor([WALL, FLOOR, CEILING])
    room_boxes = torch.tensor(
        [[-1.0, 1.01, -1.0, 1.01], [horizon, 1.01, -1.0, 1.01], [-1.0, ceiling_line, -1.0, 1.01]]
    )
    room_planes = torch.tensor(
        [
            [wall_depth, float(uniform(-1.0, 1.0)), 0.0],
            [far - floor_slope * horizon, 0.0, floor_slope],
            [2.5 + ceiling_slope, 0.0, ceiling_slope],
        ]
    )
    pick = torch.randint(len(OBJECT_CLASSES), (NUM_OBJECTS,), generator=generator)
    centre_x, centre_y = uniform(-0.9, 0.9, NUM_OBJECTS), uniform(-0.3, 0.9, NUM_OBJECTS)
    half_w, half_h = uniform(0.08, 0.35, NUM_OBJECTS), uniform(0.08, 0.4, NUM_OBJECTS)
    centre_depth = uniform(1.5, wall_depth - 0.5, NUM_OBJECTS)
    slope_x, slope_y = uniform(-1.5, 1.5, NUM_OBJECTS), uniform(-1.5, 1.5, NUM_OBJECTS)
    object_boxes = torch.stack(
        [centre_y - half_h, centre_y + half_h, centre_x - half_w, centre_x + half_w], dim=1
    )
    base = centre_depth - slope_x * centre_x - slope_y * centre_y
    object_planes = torch.stack([base, slope_x, slope_y], dim=1)
    return (
        torch.cat([room_labels, OBJECT_CLASSES[pick]]),
        torch.cat([room_boxes, object_boxes]),
        torch.cat([room_planes, object_planes]),
    )


def _shade(
    segmentation: Tensor, normal: Tensor, depth: Tensor, generator: torch.Generator
) -> Tensor:
    """Palette colour x Lambert shading x haze, plus noise, standardised."""
    albedo = _PALETTE[segmentation].permute(2, 0, 1)
    lambert = 0.3 + 0.7 * torch.einsum("chw,c->hw", normal, TO_LIGHT).clamp(min=0.0)
    haze = torch.exp(-depth / HAZE_DEPTH)
    image = albedo * (lambert * haze).unsqueeze(0)
    image = image + NOISE_STD * torch.randn(image.shape, generator=generator)
    return (image - IMAGE_MEAN) / IMAGE_STD
