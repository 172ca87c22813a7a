"""The fitted function of a model on 2-D points: every recorded layer over a mesh of the plane,
and the predictions on the held-out points, as the plane streams store them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from engine.models.graph import LOGITS
from engine.recording.scalars import probabilities
from engine.store import RunWriter, schema


def plane_mesh(extent: Sequence[float], resolution: int) -> torch.Tensor:
    """Points of a resolution×resolution grid, row 0 at the top (largest y), as [H*W, 2]."""
    xmin, xmax, ymin, ymax = extent
    xs = torch.linspace(xmin, xmax, resolution)
    ys = torch.linspace(ymax, ymin, resolution)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)


def fp16(values: torch.Tensor) -> np.ndarray:
    """A tensor as the fp16 array the heavy streams store."""
    return values.detach().to(torch.float16).cpu().numpy()


def write_plane(
    writer: RunWriter, step: int, outputs: dict[str, torch.Tensor], resolution: int
) -> None:
    """One snapshot of the plane streams from a tap's ``outputs`` (the logits and the recorded
    layers, ``.pre`` keys before their activation) on the mesh's ``resolution``² points
    followed by the held-out points."""
    r = resolution
    n = r * r

    def units_over_mesh(values: torch.Tensor) -> np.ndarray:
        """(mesh points, units) → (units, r, r), cast to fp16 before the transposing copy."""
        return fp16(values[:n]).T.reshape(-1, r, r)

    outputs = dict(outputs)
    probs = probabilities(outputs.pop(LOGITS).float())
    classes = probs[:n].argmax(1).to(torch.uint8).reshape(r, r)  # from fp32: no fp16 ties
    writer.write(schema.PLANE_PROB, step, units_over_mesh(probs))
    writer.write(schema.PLANE_CLASS, step, classes.cpu().numpy())
    for key, out in outputs.items():
        name = schema.plane_pre(key[:-4]) if key.endswith(".pre") else schema.plane(key)
        writer.write(name, step, units_over_mesh(out))
    writer.write(schema.PLANE_VAL_PROB, step, fp16(probs[n:]))
