"""The recorder: decides what a run records, hooks the model, and writes snapshots cheaply.

Per-step scalars stay on the device in small buffers and are copied to the store in bulk every
``flush_every`` steps, so training never waits on a device sync per step. Heavy snapshots
(activations of a fixed probe batch, weights, fitted planes) are taken in fp16 on their own,
sparser cadences.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.data import Data
from engine.errors import NnreelError
from engine.models.net import LayeredNet
from engine.store import RunWriter, StreamInfo
from engine.training.config import RecordConfig
from engine.training.schedule import schedule

HEAVY = np.float16
COMMIT_SECONDS = 1.0
WEIGHTED_KINDS = ("conv", "dense", "logits")


class TrainingDiverged(NnreelError):
    """The loss stopped being a finite number."""


@dataclass
class Plan:
    """The recording plan of one run: its streams and the steps each cadence records on."""

    streams: list[StreamInfo]
    steps: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        # Asked several times a step: a set answers without touching numpy.
        self._due = {cadence: set(steps.tolist()) for cadence, steps in self.steps.items()}

    def at(self, cadence: str, step: int) -> bool:
        return step in self._due[cadence]


def main_weight(layer: nn.Module) -> nn.Parameter | None:
    """The weight that defines a layer (its conv or linear weight), if it has one."""
    for attr in ("conv", "linear"):
        if hasattr(layer, attr):
            return getattr(layer, attr).weight
    return getattr(layer, "weight", None)


def main_bias(layer: nn.Module) -> nn.Parameter | None:
    for attr in ("conv", "linear"):
        if hasattr(layer, attr):
            return getattr(layer, attr).bias
    return getattr(layer, "bias", None)


def default_weight_layers(model: LayeredNet) -> list[str]:
    """All layers of an MLP; otherwise the first conv of each block and every dense layer."""
    chosen, previous = [], "start"
    for name, layer in model.visible_layers():
        kind = getattr(layer, "kind", "")
        opens_block = kind == "conv" and previous in ("start", "pool")
        if opens_block or kind in ("dense", "logits"):
            chosen.append(name)
        previous = kind
    return chosen


def pick_probe(data: Data, size: int) -> torch.Tensor:
    """Indices of validation examples for the probe: classes in turn (0, 1, 2, …), each the
    first of its class, so every class is shown and the choice never changes between runs."""
    labels = data.y_val
    chosen: list[int] = []
    while len(chosen) < min(size, len(labels)):
        before = len(chosen)
        for cls in range(data.num_classes):
            candidates = (labels == cls).nonzero().flatten().tolist()
            fresh = [i for i in candidates if i not in chosen]
            if fresh and len(chosen) < size:
                chosen.append(fresh[0])
        if len(chosen) == before:
            break
    return torch.tensor(chosen, dtype=torch.long)


def plane_mesh(extent: list[float], resolution: int) -> torch.Tensor:
    """Points of a resolution×resolution grid, row 0 at the top (largest y), as [H*W, 2]."""
    xmin, xmax, ymin, ymax = extent
    xs = torch.linspace(xmin, xmax, resolution)
    ys = torch.linspace(ymax, ymin, resolution)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)


class Recorder:
    def __init__(
        self,
        model: LayeredNet,
        data: Data,
        config: RecordConfig,
        total_steps: int,
        steps_per_epoch: int,
        device: torch.device,
    ):
        self.model, self.data, self.config, self.device = model, data, config, device
        self.total_steps = total_steps
        self.plane = data.kind == "plane"
        self.extent = list(config.extent or data.extent or (-1.5, 1.5, -1.5, 1.5))
        self.act_layers = self._activation_layers()
        self.weight_layers = config.weight_layers or default_weight_layers(model)
        self.stat_layers = [n for n, m in model.visible_layers() if main_weight(m) is not None]
        for name in [*self.act_layers, *self.weight_layers]:
            model.layer(name)
        stats = config.stats
        if stats == "auto":
            stats = f"every:{max(1, total_steps // 300)}"
        self.cadences = {
            "snapshots": config.snapshots,
            "weights": config.weights,
            "stats": stats,
            "epoch": "epoch",
            "once": "once",
        }
        if self.plane:
            self.probe = plane_mesh(self.extent, config.mesh).to(device)
            self.mesh_size = len(self.probe)
            # The held-out points ride along in the mesh's forward pass (plane/val_prob).
            self.probe = torch.cat([self.probe, data.x_val.to(device, self.probe.dtype)])
        else:
            index = pick_probe(data, config.probe_size)
            self.probe_images = data.x_val[index]
            self.probe_labels = data.y_val[index]
            self.probe = data.to_float(self.probe_images).to(device)
        self.plan = self._plan(total_steps, steps_per_epoch)
        self.writer: RunWriter | None = None
        self._scalars: list[tuple[int, torch.Tensor, torch.Tensor, float]] = []
        self._committed = time.monotonic()

    # -- the plan -------------------------------------------------------------------------
    def _activation_layers(self) -> list[str]:
        if self.config.layers is not None:
            return list(self.config.layers)
        return [n for n, m in self.model.visible_layers() if getattr(m, "kind", "") != "flatten"]

    def _plan(self, total_steps: int, steps_per_epoch: int) -> Plan:
        steps = {
            key: schedule(cadence, total_steps, steps_per_epoch)
            for key, cadence in self.cadences.items()
        }
        steps["stats"] = steps["stats"][steps["stats"] > 0]  # no gradient before update 1
        steps["scalars"] = np.arange(1, total_steps + 1)
        streams = [
            self._stream(name, (), np.float32, "scalars", steps)
            for name in ("train/loss", "train/acc", "train/lr")
        ]
        streams += [
            self._stream(name, (), np.float32, "epoch", steps) for name in ("val/loss", "val/acc")
        ]
        meta = {"layers": self.stat_layers}
        streams += [
            self._stream(
                f"stats/{what}", (len(self.stat_layers),), np.float32, "stats", steps, meta
            )
            for what in ("grad_abs_mean", "weight_norm")
        ]
        for name in self.weight_layers:
            layer = self.model.layer(name)
            meta = {"layer": name, "kind": layer.kind}
            weight, bias = main_weight(layer), main_bias(layer)
            streams.append(
                self._stream(f"weights/{name}", weight.shape, HEAVY, "weights", steps, meta)
            )
            if bias is not None:
                streams.append(
                    self._stream(f"weights/{name}.bias", bias.shape, HEAVY, "weights", steps, meta)
                )
        streams += self._plane_streams(steps) if self.plane else self._image_streams(steps)
        return Plan(streams, steps)

    def _stream(self, name, shape, dtype, cadence_key, steps, meta=None) -> StreamInfo:
        cadence = self.cadences.get(cadence_key, "every:1")
        return StreamInfo(
            name=name,
            dtype=np.dtype(dtype).name,
            shape=tuple(int(s) for s in shape),
            capacity=len(steps[cadence_key]),
            cadence=cadence,
            meta=dict(meta or {}),
        )

    def _output_shapes(self, example: torch.Tensor) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        with self._hooks(lambda name, out: shapes.__setitem__(name, tuple(out.shape[1:]))):
            self._forward(example)
        return shapes

    def _image_streams(self, steps) -> list[StreamInfo]:
        n = len(self.probe_labels)
        shapes = self._output_shapes(torch.zeros(1, *self.model.input_shape))
        streams = [
            self._stream("probe/images", (n, *self.model.input_shape), np.uint8, "once", steps),
            self._stream("probe/labels", (n,), np.int64, "once", steps),
            self._stream(
                "probe/probs", (n, self.model.num_classes), np.float32, "snapshots", steps
            ),
        ]
        for name in self.act_layers:
            meta = {"layer": name, "kind": self.model.kind_of(name)}
            streams.append(
                self._stream(f"acts/{name}", (n, *shapes[name]), HEAVY, "snapshots", steps, meta)
            )
        return streams

    def _plane_streams(self, steps) -> list[StreamInfo]:
        r = self.config.mesh
        k = self.model.num_classes
        meta = {"extent": self.extent, "mesh": r}
        shapes = self._output_shapes(torch.zeros(1, *self.model.input_shape))
        streams = [
            self._stream("plane/prob", (k, r, r), HEAVY, "snapshots", steps, meta),
            self._stream("plane/class", (r, r), np.uint8, "snapshots", steps, meta),
            self._stream("plane/val_prob", (len(self.data.y_val), k), HEAVY, "snapshots", steps),
        ]
        for name in self.act_layers:
            units = shapes[name][0]
            layer_meta = {**meta, "layer": name, "kind": self.model.kind_of(name)}
            streams.append(
                self._stream(f"plane/{name}", (units, r, r), HEAVY, "snapshots", steps, layer_meta)
            )
            if hasattr(self.model.layer(name), "linear"):
                streams.append(
                    self._stream(
                        f"plane/{name}.pre", (units, r, r), HEAVY, "snapshots", steps, layer_meta
                    )
                )
        for split in ("train", "val"):
            x, y = getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}")
            streams.append(
                self._stream(f"data/{split}_x", tuple(x.shape), np.float32, "once", steps)
            )
            streams.append(self._stream(f"data/{split}_y", tuple(y.shape), np.int64, "once", steps))
        return streams

    # -- hooks and probes -----------------------------------------------------------------
    def _hooks(self, sink):
        """Forward hooks that hand each recorded layer's real output to ``sink`` (and, for
        2-D models, each dense layer's pre-activation as ``name.pre``)."""
        model = self.model

        class Hooks:
            def __enter__(inner):
                inner.handles = []
                for name in self.act_layers:
                    layer = model.layer(name)
                    inner.handles.append(
                        layer.register_forward_hook(lambda m, i, o, n=name: sink(n, o))
                    )
                    if self.plane and hasattr(layer, "linear"):
                        inner.handles.append(
                            layer.linear.register_forward_hook(
                                lambda m, i, o, n=name: sink(f"{n}.pre", o)
                            )
                        )
                return inner

            def __exit__(inner, *exc):
                for handle in inner.handles:
                    handle.remove()

        return Hooks()

    @torch.no_grad()
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model(x.to(next(self.model.parameters()).device))
        finally:
            self.model.train(was_training)

    # -- writing --------------------------------------------------------------------------
    def attach(self, writer: RunWriter) -> None:
        self.writer = writer

    def write_static(self) -> None:
        if self.plane:
            for split in ("train", "val"):
                self.writer.write(f"data/{split}_x", 0, getattr(self.data, f"x_{split}").numpy())
                self.writer.write(f"data/{split}_y", 0, getattr(self.data, f"y_{split}").numpy())
        else:
            self.writer.write("probe/images", 0, self.probe_images.numpy())
            self.writer.write("probe/labels", 0, self.probe_labels.numpy())

    def snapshot(self, step: int) -> None:
        """Everything due at ``step`` except the per-step scalars."""
        if self.plan.at("snapshots", step):
            self._record_activations(step)
        if self.plan.at("weights", step):
            self._record_weights(step)

    def _record_activations(self, step: int) -> None:
        captured: dict[str, torch.Tensor] = {}
        with self._hooks(lambda name, out: captured.__setitem__(name, out.to(torch.float16))):
            logits = self._forward(self.probe)
        probs = self.model.probabilities(logits)
        if self.plane:
            n = self.mesh_size
            self._record_plane(step, {k: v[:n] for k, v in captured.items()}, probs[:n], probs[n:])
            return
        self.writer.write("probe/probs", step, probs.float().cpu().numpy())
        for name in self.act_layers:
            self.writer.write(f"acts/{name}", step, captured[name].cpu().numpy())

    def _record_plane(self, step, captured, probs, val_probs) -> None:
        r = self.config.mesh
        grid = probs.T.reshape(-1, r, r)
        self.writer.write("plane/prob", step, grid.cpu().numpy().astype(HEAVY))
        self.writer.write("plane/class", step, grid.argmax(0).cpu().numpy().astype(np.uint8))
        for name, out in captured.items():
            self.writer.write(f"plane/{name}", step, out.T.reshape(-1, r, r).cpu().numpy())
        self.writer.write("plane/val_prob", step, val_probs.cpu().numpy().astype(HEAVY))

    def _record_weights(self, step: int) -> None:
        for name in self.weight_layers:
            layer = self.model.layer(name)
            weight, bias = main_weight(layer), main_bias(layer)
            self.writer.write(f"weights/{name}", step, _heavy(weight))
            if bias is not None:
                self.writer.write(f"weights/{name}.bias", step, _heavy(bias))

    def after_step(self, step: int, loss: torch.Tensor, correct: torch.Tensor, lr: float) -> None:
        """Buffer this step's scalars (no device sync) and take the snapshots due now."""
        self._scalars.append((step, loss.detach(), correct, lr))
        if self.plan.at("stats", step):
            self._record_stats(step)
        self.snapshot(step)
        if len(self._scalars) >= self.config.flush_every:
            self.flush()

    def _record_stats(self, step: int) -> None:
        layers = [self.model.layer(name) for name in self.stat_layers]
        weights = [main_weight(layer) for layer in layers]
        grads = torch.stack(
            [w.grad.abs().mean() if w.grad is not None else w.new_zeros(()) for w in weights]
        )
        norms = torch.stack([w.detach().norm() for w in weights])
        self.writer.write("stats/grad_abs_mean", step, grads.float().cpu().numpy())
        self.writer.write("stats/weight_norm", step, norms.float().cpu().numpy())

    def after_epoch(self, step: int, val_loss: float, val_acc: float) -> None:
        self.writer.write("val/loss", step, np.float32(val_loss))
        self.writer.write("val/acc", step, np.float32(val_acc))

    def flush(self, force: bool = False, **progress: Any) -> tuple[float, float] | None:
        """Copy buffered scalars to the store in one transfer; returns the mean loss and
        accuracy of the flushed steps (None when nothing was buffered).

        The manifest is committed at most every ``COMMIT_SECONDS`` (or when ``force``), so a
        killed run loses at most that much and tiny fast models do not spend their time on it.

        Raises ``TrainingDiverged`` at the first non-finite loss, after committing the steps
        before it, so the run stays readable up to there.
        """
        steps = np.array([s for s, *_ in self._scalars])
        if len(steps):
            losses = torch.stack([loss for _, loss, _, _ in self._scalars]).float()
            correct = torch.stack([acc for _, _, acc, _ in self._scalars]).float()
            values = torch.stack([losses, correct], 1).cpu().numpy()  # one transfer
            lrs = np.array([lr for *_, lr in self._scalars], np.float32)
            values = np.column_stack([values, lrs])
            self._scalars.clear()
            bad = np.flatnonzero(~np.isfinite(values[:, 0]))
            keep = bad[0] if len(bad) else len(steps)
            for column, name in enumerate(("train/loss", "train/acc", "train/lr")):
                self.writer.write_many(name, steps[:keep], values[:keep, column])
            if len(bad):
                self.writer.commit(**progress)
                raise TrainingDiverged(
                    f"The loss became {values[keep, 0]} at step {steps[keep]}: training stopped "
                    "there. Everything recorded before that step is kept. Lower the learning "
                    "rate (--lr) or use a gentler optimizer, then train again."
                )
        if force or time.monotonic() - self._committed > COMMIT_SECONDS:
            self.writer.commit(**progress)
            self._committed = time.monotonic()
        return (float(values[:, 0].mean()), float(values[:, 1].mean())) if len(steps) else None


def _heavy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(torch.float16).cpu().numpy()
