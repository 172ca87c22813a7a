"""Activation maximisation recorded into a run folder, and read back for the scenes.

Streams for layer L (U units, F recorded steps, images C×H×W; each stream's step axis holds the
optimisation step, 0 being the starting noise):

    actmax/L/frames         uint8   [U, C, H, W], F snapshots: the images as they grow
    actmax/L/values         float32 [U],          F snapshots: each unit's activation on them
    actmax/L/probabilities  float32 [U],          F snapshots: class logits only, the model's
                                                  probability that image u is its class
    actmax/L/best           uint8   [U, C, H, W], 1 snapshot: each unit's best image
    actmax/L/best_values    float32 [U],          1 snapshot
    actmax/L/dead           uint8   [U],          1 snapshot: 1 where the unit never fired

Images are uint8 in [0, 255], like the datasets, and every stored value was measured on exactly
the stored uint8 image. The frames stream's meta holds the units, their labels, the objective,
the settings, the best steps and, when the training data was available, each unit's highest
activation over it (``dataset_max``). Recording a layer again replaces its streams.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.actmax.objectives import (
    UnitObjective,
    check_units,
    forward_to,
    layer_units,
    unit_objective,
)
from engine.actmax.param import ColourStats, neutral_stats
from engine.actmax.render import RenderResult, RenderSettings, frozen, render
from engine.console import console
from engine.errors import NnreelError, RunError, UnknownNameError
from engine.models import Net
from engine.recording.restore import load_model, load_run_data
from engine.store import Run, RunWriter, StreamInfo, resolve_run, schema
from engine.store.files import ensure_room
from engine.store.manifest import MANIFEST

DEFAULT_BATCH = 64
MAX_CANDIDATES = 4
_DATA_BATCH = 256


@dataclass
class ActmaxRecording:
    """One layer's recording: F frames of U units, with what the scene needs to label them."""

    layer: str
    units: list[int]
    labels: list[str]
    objective: str
    steps: np.ndarray
    """[F] optimisation step of each frame."""
    frames: np.ndarray
    """[F, U, C, H, W] uint8."""
    values: np.ndarray
    """[F, U] activation of each frame."""
    best: np.ndarray
    """[U, C, H, W] uint8."""
    best_values: np.ndarray
    best_steps: np.ndarray
    dead: np.ndarray
    """[U] bool."""
    probabilities: np.ndarray | None
    """[F, U] class logits only."""
    dataset_max: np.ndarray | None
    """[U] highest activation of each unit over the training data, if it was available."""
    settings: dict[str, Any]

    @property
    def above_dataset_max(self) -> np.ndarray | None:
        """[U] bool: the best image beats every training image (None without the data)."""
        if self.dataset_max is None:
            return None
        return self.best_values > self.dataset_max

    def image(self, frame: int, unit: int) -> np.ndarray:
        """One frame as uint8 H×W (grey) or H×W×3 (colour), the layout images are drawn in."""
        image = self.frames[frame, unit]
        return image[0] if image.shape[0] == 1 else np.ascontiguousarray(image.transpose(1, 2, 0))


def record_actmax(
    run: Run | str | Path,
    layer: str | None = None,
    units: Sequence[int] | str = "all",
    settings: RenderSettings | None = None,
    *,
    model: Net | None = None,
    batch: int = DEFAULT_BATCH,
    candidates: int | None = None,
    dataset_max: bool = True,
    quiet: bool = False,
) -> ActmaxRecording:
    """Optimise an image for each of ``units`` of ``layer`` (default: the output layer, i.e. the
    classes), up to ``batch`` images at a time, and store the result in ``run``.

    Each unit gets ``candidates`` random starts (default: as many as fit in one batch, at most
    4) and keeps the one that reached the highest activation: a start can settle on a local
    optimum, such as a digit class's image turning into another digit. ``model`` replaces the
    run's saved weights (the pretrained ImageNet net has none). The training data, when it can
    be loaded, gives the colour statistics and ``dataset_max``.
    """
    run = run if isinstance(run, Run) else Run(run)
    with RunWriter.reopen(run.folder) as writer:  # no other process writes the run meanwhile
        model = model if model is not None else load_model(run)
        layer = layer or model.layer_names[-1]
        _check_layer(model, layer)
        units = resolve_units(model, layer, units)
        settings = settings or RenderSettings()
        if batch < 1 or (candidates is not None and candidates < 1):
            raise NnreelError("The batch size and the number of candidates must be at least 1.")
        starts = candidates or max(1, min(MAX_CANDIDATES, batch // len(units)))
        images = training_images(run, quiet=quiet)
        colour = colour_stats(run, images)
        results = []
        per_batch = max(1, batch // starts)
        for start in range(0, len(units), per_batch):
            chunk = units[start : start + per_batch]
            result = render(
                model,
                unit_objective(model, layer, chunk * starts),
                len(chunk) * starts,
                settings,
                colour=colour,
                description=f"{layer} {start + 1}-{start + len(chunk)} of {len(units)}",
                quiet=quiet,
            )
            results.append(best_candidates(result, len(chunk), starts))
        objective = unit_objective(model, layer, units)
        maxima = None
        if dataset_max and images is not None:
            maxima = unit_maxima(model, objective, images)
        meta = {
            "layer": layer,
            "layer_kind": model.kind_of(layer),
            "units": units,
            "labels": unit_labels(run, objective),
            "objective": objective.kind,
            "candidates": starts,
            "settings": settings.resolved(min(model.input_shape[1:])).to_json(),
            "colour": "training data" if images is not None else "manifest mean and std",
            "dataset_max": None if maxima is None else maxima[0].tolist(),
            "dataset_argmax": None if maxima is None else maxima[1].tolist(),
            "seconds": sum(r.seconds for r in results),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "encoding": "images uint8 [U, C, H, W] in 0-255",
        }
        write_recording(writer, layer, _concat(results), meta)
    return load_actmax(run.folder, layer)


def resolve_units(model: Net, layer: str, units: Sequence[int] | str) -> list[int]:
    """``"all"``, ``"0,3,5"`` or a list of ints, checked against the layer's unit count."""
    count = layer_units(model, layer)
    if isinstance(units, str):
        if units.strip() == "all":
            return list(range(count))
        try:
            units = [int(u) for u in units.split(",") if u.strip()]
        except ValueError:
            raise NnreelError(f"Units {units!r}: give 'all' or numbers like 0,1,2.") from None
    units = [int(u) for u in units]
    if not units:
        raise NnreelError("No units given: use 'all' or numbers like 0,1,2.")
    check_units(layer, units, count)
    return units


def training_images(run: Run, quiet: bool = False) -> torch.Tensor | None:
    """The run's training images (uint8 [N, C, H, W]) reloaded from its manifest, or None with
    a note when they cannot be loaded here (an offline dataset, say)."""
    if run.dataset.get("kind") != "image" or run.dataset.get("pretrained"):
        return None
    try:
        data = load_run_data(run)
    except (NnreelError, TypeError) as exc:
        if not quiet:
            console.print(
                f"[yellow]note:[/] the training data of {run.name!r} cannot be loaded ({exc}); "
                "colours use the manifest's mean and std, and no dataset maximum is computed."
            )
        return None
    return data.x_train


def colour_stats(run: Run, images: torch.Tensor | None) -> ColourStats:
    """From the training images when there are some, else the manifest's mean and std."""
    if images is not None:
        return ColourStats.from_images(images)
    mean, std = run.dataset.get("mean"), run.dataset.get("std")
    if mean and std:
        return ColourStats.diagonal(list(mean), list(std))
    return neutral_stats(int(run.model["input_shape"][0]))


@torch.no_grad()
def unit_maxima(
    model: Net, objective: UnitObjective, images: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's highest activation over ``images`` (uint8) and the index of that image."""
    device = next(model.parameters()).device
    units = torch.tensor(objective.units, device=device)
    best = torch.full((len(units),), -torch.inf, device=device)
    where = torch.zeros(len(units), dtype=torch.long, device=device)
    with frozen(model):
        for start in range(0, len(images), _DATA_BATCH):
            x = images[start : start + _DATA_BATCH].to(device).float() / 255
            out = forward_to(model, x, [objective.layer])[objective.layer]
            values, index = objective.reduce(out)[:, units].max(dim=0)
            better = values > best
            best = torch.where(better, values, best)
            where = torch.where(better, index + start, where)
    return best.cpu().numpy(), where.cpu().numpy()


def unit_labels(run: Run, objective: UnitObjective) -> list[str]:
    """Class names for class logits, else ``layer #unit``."""
    classes = run.classes
    if objective.kind == "class" and len(classes) > max(objective.units):
        return [str(classes[u]) for u in objective.units]
    return [f"{objective.layer} #{u}" for u in objective.units]


def write_recording(
    writer: RunWriter, layer: str, result: RenderResult, meta: dict[str, Any]
) -> None:
    """Replace layer ``layer``'s actmax streams in the run ``writer`` writes with ``result``."""
    prefix = schema.actmax(layer)
    units, image_shape = result.best.shape[0], tuple(result.best.shape[1:])
    frames = len(result.steps)
    last = np.asarray([int(result.steps[-1])])
    meta = {**meta, "best_steps": result.best_steps.tolist()}
    streams = [
        (
            StreamInfo(
                schema.actmax(layer, "frames"), "uint8", (units, *image_shape), frames, meta=meta
            ),
            result.steps,
            result.frames,
        ),
        (
            StreamInfo(schema.actmax(layer, "values"), "float32", (units,), frames),
            result.steps,
            result.values,
        ),
        (
            StreamInfo(schema.actmax(layer, "best"), "uint8", (units, *image_shape), 1),
            last,
            result.best[None],
        ),
        (
            StreamInfo(schema.actmax(layer, "best_values"), "float32", (units,), 1),
            last,
            result.best_values[None],
        ),
        (StreamInfo(schema.actmax(layer, "dead"), "uint8", (units,), 1), last, result.dead[None]),
    ]
    if result.probabilities is not None:
        streams.append(
            (
                StreamInfo(schema.actmax(layer, "probabilities"), "float32", (units,), frames),
                result.steps,
                result.probabilities,
            )
        )
    needed = sum(info.nbytes for info, _, _ in streams)
    ensure_room(writer.folder, needed, f"the {prefix} recording")  # before the old one goes
    writer.remove_streams(prefix)
    for info, steps, values in streams:
        info.cadence = f"log:{frames}" if info.capacity > 1 else "once"
        writer.add_stream(info)
        writer.write_many(info.name, np.asarray(steps), np.asarray(values))
    writer.commit()


def load_actmax(run: Run | str | Path, layer: str) -> ActmaxRecording:
    """Read layer ``layer``'s recording back (what the scenes use)."""
    run = run if isinstance(run, Run) else Run(run)
    prefix = schema.actmax(layer)
    if not run.has(schema.actmax(layer, "frames")):
        recorded = recorded_layers(run)
        raise RunError(
            f"Run {run.name!r} has no activation-maximisation recording of layer {layer!r} "
            f"(recorded: {', '.join(recorded) or 'none'}). Make one with:\n"
            f"  python -m engine actmax {run.folder} --layer {layer} --units all"
        )
    meta = run.meta(schema.actmax(layer, "frames"))
    try:
        units, labels = [int(u) for u in meta["units"]], [str(x) for x in meta["labels"]]
        maxima = meta.get("dataset_max")
        maxima = None if maxima is None else np.asarray(maxima, dtype=np.float32)
        best_steps = np.asarray(meta["best_steps"], dtype=np.int64)
        settings = dict(meta["settings"])
        objective = str(meta["objective"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(
            f"The {prefix} recording of run {run.name!r} has damaged metadata ({exc!r}). "
            f"Record it again: python -m engine actmax {run.folder} --layer {layer}"
        ) from None
    return ActmaxRecording(
        layer=layer,
        units=units,
        labels=labels,
        objective=objective,
        steps=run.steps(schema.actmax(layer, "frames")),
        frames=run.read(schema.actmax(layer, "frames")),
        values=run.read(schema.actmax(layer, "values")),
        best=run.read(schema.actmax(layer, "best"), 0),
        best_values=run.read(schema.actmax(layer, "best_values"), 0),
        best_steps=best_steps,
        dead=run.read(schema.actmax(layer, "dead"), 0).astype(bool),
        probabilities=run.read(schema.actmax(layer, "probabilities"))
        if run.has(schema.actmax(layer, "probabilities"))
        else None,
        dataset_max=maxima,
        settings=settings,
    )


def recorded_layers(run: Run) -> list[str]:
    """Layers of ``run`` with an activation-maximisation recording, in model order."""
    found = {
        n.split("/")[1] for n in run.streams if n.startswith(f"{schema.ACTMAX}/") and run.has(n)
    }
    return [info.name for info in run.layers if info.name in found]


def imagenet_run(name: str | Path, weights: str | Path | None = None) -> tuple[Run, Net]:
    """The pretrained ImageNet VGG-16 (its clear error when the weights are absent) and a run
    folder to record into, created on first use: there is no training run to hold it."""
    from engine.models.vgg import IMAGENET_MEAN, IMAGENET_STD, imagenet_classes, imagenet_vgg16
    from engine.store.run import layer_table_json
    from engine.summary import layer_table

    model = imagenet_vgg16(weights)
    folder = resolve_run(name)
    if not (folder / MANIFEST).exists():
        dataset = {
            "name": "imagenet",
            "kind": "image",
            "pretrained": True,
            "classes": imagenet_classes(),
            "input_shape": list(model.input_shape),
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
        }
        header = {
            "model": model.describe(),
            "dataset": dataset,
            "layers": layer_table_json(layer_table(model)),
            "progress": {"step": 0},
        }
        with RunWriter.create(folder, header=header, streams=[]) as writer:
            writer.set_status("finished", "pretrained torchvision VGG-16, not trained here")
    run = Run(folder)
    if run.model.get("arch") != model.arch:
        raise RunError(
            f"{folder} holds a {run.model.get('arch')} run, not the ImageNet VGG-16; "
            "pick another name for --run."
        )
    return run, model


def _check_layer(model: Net, layer: str) -> None:
    visible = model.visible_names
    if layer not in visible:
        raise UnknownNameError("layer", layer, visible)


def best_candidates(result: RenderResult, units: int, starts: int) -> RenderResult:
    """Of ``starts`` images per unit (image ``c * units + u`` is start c of unit u), keep each
    unit's one with the highest best activation."""
    if starts == 1:
        return result
    pick = result.best_values.reshape(starts, units).argmax(axis=0) * units + np.arange(units)
    return RenderResult(
        steps=result.steps,
        frames=result.frames[:, pick],
        values=result.values[:, pick],
        probabilities=None if result.probabilities is None else result.probabilities[:, pick],
        best=result.best[pick],
        best_values=result.best_values[pick],
        best_steps=result.best_steps[pick],
        dead=result.dead.reshape(starts, units).all(axis=0),
        seconds=result.seconds,
    )


def _concat(results: list[RenderResult]) -> RenderResult:
    """Chunks of units joined along the unit axis (they share the frame schedule)."""
    if len(results) == 1:
        return results[0]
    probabilities = [r.probabilities for r in results]
    return RenderResult(
        steps=results[0].steps,
        frames=np.concatenate([r.frames for r in results], axis=1),
        values=np.concatenate([r.values for r in results], axis=1),
        probabilities=None if probabilities[0] is None else np.concatenate(probabilities, axis=1),
        best=np.concatenate([r.best for r in results]),
        best_values=np.concatenate([r.best_values for r in results]),
        best_steps=np.concatenate([r.best_steps for r in results]),
        dead=np.concatenate([r.dead for r in results]),
        seconds=sum(r.seconds for r in results),
    )
