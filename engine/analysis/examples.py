"""Dataset examples: for every unit of a layer, the validation images that excite it most —
the other half of Distill's "Feature Visualization" figure, beside the image optimised for the
unit. Computed once with the run's stored network and kept in the run:

    examples/L/images   uint8   [U, K, C, H, W]   each unit's top K validation images, best first
    examples/L/values   float32 [U, K]            the unit's activation on each of them
    examples/L/indices  int64   [U, K]            where they are in the validation set

A unit's activation is what activation maximisation raises for it (``engine.actmax``): the
mean of a conv channel's map, a dense unit's value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import torch

from engine.actmax.objectives import UnitObjective, forward_to, frozen, unit_objective
from engine.analysis.operations import trained_model
from engine.errors import RunError
from engine.recording import load_run_data
from engine.store import LayerInfo, Run, RunWriter, StreamInfo, schema
from engine.store.files import ensure_room

PREFIX = "examples"
TOP = 8
"""Images kept per unit (a figure shows 4–8)."""
_BATCH = 256


@dataclass(frozen=True)
class Examples:
    """One layer's top validation images per unit."""

    layer: str
    images: np.ndarray
    """[U, K, C, H, W] uint8."""
    values: np.ndarray
    """[U, K]."""
    indices: np.ndarray
    """[U, K]."""


@torch.no_grad()
def top_images(
    model, objective: UnitObjective, images: torch.Tensor, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's ``k`` highest activations over ``images`` (uint8 [N, C, H, W]) and the
    indices of those images, highest first ([U, k] each; ties keep the earlier image)."""
    device = next(model.parameters()).device
    units = torch.tensor(objective.units, device=device)
    k = min(k, len(images))
    best = torch.full((len(units), 0), -torch.inf, device=device)
    where = torch.zeros((len(units), 0), dtype=torch.long, device=device)
    with frozen(model):
        for start in range(0, len(images), _BATCH):
            x = images[start : start + _BATCH].to(device).float() / 255
            out = forward_to(model, x, [objective.layer])[objective.layer]
            scores = objective.reduce(out)[:, units].T  # [U, batch]
            index = torch.arange(start, start + len(x), device=device).expand_as(scores)
            values = torch.cat([best, scores], dim=1)
            order = torch.cat([where, index], dim=1)
            top = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :k]
            best, where = values.gather(1, top), order.gather(1, top)
    return best.cpu().numpy(), where.cpu().numpy()


def record_examples(run: Run, layers: list[LayerInfo], k: int = TOP) -> None:
    """Find and store every unit's top ``k`` validation images for each of ``layers``
    (the images read once for all of them)."""
    images = validation_images(run)
    model = trained_model(run)
    with RunWriter.reopen(run.folder) as writer:  # no other process writes the run meanwhile
        for info in layers:
            _record_layer(writer, model, info, images, k)
        writer.commit()


def validation_images(run: Run) -> torch.Tensor:
    """The run's validation images, uint8 [N, C, H, W]: those the recorder kept in the run (a
    user's data, which nnreel cannot load again), else its dataset loaded again."""
    kept = schema.data_x("val")
    if run.has(kept) and run.streams[kept].dtype == "uint8" and len(run.streams[kept].shape) == 4:
        return torch.from_numpy(np.array(run.read(kept, 0)))
    try:
        return load_run_data(run).x_val
    except Exception as exc:  # a dataset missing offline, say: say which and what to do
        raise RunError(
            f"The validation images of run {run.name!r} cannot be loaded ({exc}); dataset "
            "examples need them once (they are kept in the run afterwards). A run recorded "
            "with engine.record keeps them at its first validate() on its own data."
        ) from None


def _record_layer(writer: RunWriter, model, info: LayerInfo, images: torch.Tensor, k: int) -> None:
    """Replace ``info``'s examples streams in the run ``writer`` writes."""
    count = int(info.output_shape[0])
    objective = unit_objective(model, info.name, list(range(count)))
    values, indices = top_images(model, objective, images, k)
    arrays = {"images": images.numpy()[indices], "values": values, "indices": indices}
    prefix = f"{PREFIX}/{info.name}"
    meta = {
        "layer": info.name,
        "split": "validation",
        "activation": objective.kind,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    needed = sum(array.nbytes for array in arrays.values())
    ensure_room(writer.folder, needed, f"the {prefix} examples")  # before the old ones go
    writer.remove_streams(prefix)
    for name, array in arrays.items():
        stream = StreamInfo(
            f"{prefix}/{name}", str(array.dtype), array.shape, 1, cadence="once", meta=meta
        )
        writer.add_stream(stream)
        writer.write(stream.name, 0, array)


def load_examples(run: Run, layer: str) -> Examples:
    prefix = f"{PREFIX}/{layer}"
    return Examples(
        layer,
        run.read(f"{prefix}/images", 0),
        run.read(f"{prefix}/values", 0),
        run.read(f"{prefix}/indices", 0),
    )


def recorded_example_layers(run: Run) -> set[str]:
    return {name.split("/")[1] for name in run.streams if name.startswith(f"{PREFIX}/")}
