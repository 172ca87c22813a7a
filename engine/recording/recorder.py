"""Recording any PyTorch model in any training loop.

    rec = record(model, run="lenet", probe=(images[:8], labels[:8]), optimizer=opt,
                 classes=names)
    with rec:
        for epoch in range(epochs):
            for x, y in loader:
                opt.zero_grad()
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                loss.backward()
                opt.step()
                rec.step(loss=loss, logits=logits, targets=y)
            rec.validate(val_loader)

The training step itself is never touched: no hooks on the model, nothing copied off the device
per step (the loss and accuracy wait on the device and go to disk in bulk). On a cadence the
recorder runs the probe batch through a tap of the model (eval mode, fp16 copies of every
recorded layer), and copies weights and gradient statistics. nnreel's own trainer records
through this same class.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.console import console
from engine.errors import DiskFullError, NnreelError
from engine.models.graph import LOGITS, ModelGraph, trace_model, without_normalize
from engine.models.registry import builder_of
from engine.recording.config import RecordConfig
from engine.recording.datasource import DataSource, describe_data, pick_probe
from engine.recording.planes import fp16, plane_function, plane_mesh, write_params, write_plane
from engine.recording.scalars import StepScalars, predictions, probabilities
from engine.recording.schedule import Due
from engine.store import (
    CHECKPOINT_FILE,
    DEFAULT_BUDGET_BYTES,
    MODEL_FILE,
    RunWriter,
    StreamInfo,
    resolve_run,
    schema,
)
from engine.store.schema import LayerInfo, ModelInfo, OptimizerInfo

HEAVY = np.float16
COMMIT_SECONDS = 1.0
"""The manifest, which makes what was written visible to readers, is rewritten at most this
often: a killed run loses at most this much."""
FLUSH_SECONDS = COMMIT_SECONDS
"""Quick steps are flushed at most this often, each flush then committed: scalars flushed
sooner would wait unseen for the commit anyway, and each flush of a tiny model's steps costs
what a few of its steps do."""
MAX_BUFFERED_STEPS = 2000
MAX_BUFFERED_LOGITS = 1 << 22
"""Logits kept for the accuracy until a flush (16 MB in fp32): many classes flush sooner."""
VAL_IMAGES_BYTES = 64 * 1024**2
"""Validation images kept in a run whose dataset nnreel cannot load again by name (a user's
DataLoader): the first validation keeps up to this many bytes of them as uint8 pixels, so
dataset examples (the unit scene) work from the run alone. CIFAR-10's 10,000 take 30 MB."""
STATS_POINTS = 300
STATS_STRIDE, STATS_MIN_POINTS = 4, 75
"""The statistics read every parameter and gradient, as much memory traffic as a small batch's
step (ResNet-18 at 32×32: 5 ms on a 125 ms step): ``auto`` takes them at most every 4th step,
as long as that leaves 75 points (a short run keeps a history to show)."""
ABS_SLICE = 1 << 18
"""Values per slice when ``abs_sums`` sums a large tensor (1 MB of fp32 at a time)."""
DEFAULT_EXTENT = [-1.5, 1.5, -1.5, 1.5]
EPOCH_WEIGHTS_SECONDS = 60.0
"""A user's loop saves its weights (``checkpoint.pt``, what act-max, pruning and a new image
need from a killed run) at an epoch's end at most this often, counted from the start; closing
always saves them. A save costs what several training steps do (ResNet-18: 45 MB and two fsyncs,
0.3–0.5 s on a CPU), so short epochs must not each pay for one."""


STEP_CADENCES = ("stats", "snapshots", "weights")
"""The cadences a training step takes (the scalars are buffered on every step)."""


def abs_sums(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The sum of |x| over each tensor, as a 0-d fp32 tensor on its device.

    Small tensors go through one fused call (``torch._foreach_norm``); a large one is summed
    in slices of ``ABS_SLICE`` values instead. On a CPU the fused L1 norm does not vectorise:
    ResNet-18's 11 M gradients take 4.8 ms that way and 1.8 ms as ``abs`` then ``sum``, and
    slices keep that temporary small (no fresh pages to fault in for each one)."""
    large = [i for i, tensor in enumerate(tensors) if tensor.numel() > ABS_SLICE]
    small = [tensor for tensor in tensors if tensor.numel() <= ABS_SLICE]
    found = list(torch._foreach_norm(small, 1, dtype=torch.float32)) if small else []
    for i in large:
        parts = tensors[i].reshape(-1).split(ABS_SLICE)
        found.insert(i, torch.stack([part.abs().sum(dtype=torch.float32) for part in parts]).sum())
    return found


class TrainingDiverged(NnreelError):
    """The loss stopped being a finite number."""


@dataclass
class Plan:
    """The recording plan of one run: its streams, and when each cadence records."""

    streams: list[StreamInfo]
    due: dict[str, Due]

    def at(self, cadence: str, step: int) -> bool:
        return self.due[cadence].at(step)

    def next_event(self, step: int) -> float:
        """The first step after ``step`` on which a training step has something to take."""
        return min(
            (self.due[key].next_after(step) for key in STEP_CADENCES if key in self.due),
            default=math.inf,
        )


def default_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy, or binary cross-entropy on a single logit (what validate() reports)."""
    if logits.shape[1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(logits[:, 0], targets.float())
    return nn.functional.cross_entropy(logits, targets)


def optimizer_info(optimizer: torch.optim.Optimizer | None) -> OptimizerInfo | None:
    if optimizer is None:
        return None
    group = optimizer.param_groups[0]
    settings = {
        key: group[key]
        for key in ("momentum", "weight_decay", "betas", "nesterov")
        if key in group and isinstance(group[key], (int, float, bool, tuple, list))
    }
    lr = group.get("lr")
    return OptimizerInfo(type(optimizer).__name__.lower(), float(lr), settings)


def default_weight_layers(layers: Sequence[LayerInfo]) -> list[str]:
    """Every dense layer, and every conv that opens a block (whose input is no conv): seed
    000's first conv of each block; all layers of an MLP."""
    kinds = {info.name: info.kind for info in layers}
    chosen = []
    for info in layers:
        if not info.module:
            continue
        opens_block = info.kind == schema.CONV and not any(
            kinds.get(source) == schema.CONV for source in info.inputs
        )
        if opens_block or info.kind in schema.DENSE_KINDS:
            chosen.append(info.name)
    return chosen


class Recorder:
    """Records one model into one run folder; see ``record`` for the arguments.

    ``create`` writes the run (``record`` does it for you), ``step`` follows each training
    step, ``validate`` each epoch's end, ``close`` (or leaving ``with``) finishes it.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        data: DataSource | None = None,
        probe: Any = None,
        classes: Sequence[str] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        config: RecordConfig | None = None,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        normalize: tuple[Sequence[float], Sequence[float]] | dict | None = None,
        name: str | None = None,
        device: torch.device | None = None,
    ):
        self.model = getattr(model, "module", model) if _is_wrapper(model) else model
        self.device = device or _device_of(self.model)
        self.optimizer = optimizer
        self.config = config
        """None records nothing but the manifest and the weights (the trainer's --no-record)."""
        self.data = data
        self.total_steps, self.steps_per_epoch = total_steps, steps_per_epoch
        self.normalize = _normalize_dict(normalize) or (data.normalize if data else None)
        probe_x, probe_y = self._probe(probe)
        self._example = probe_x[:1].float().to(self.device)
        self.kind = _input_kind(probe_x, data)
        self.plane = self.kind == "plane" and config is not None
        self.graph = self._trace()
        self.classes = self._classes(classes)
        outputs = self.graph.num_outputs
        if (2 if outputs == 1 else outputs) != len(self.classes):
            raise NnreelError(
                f"The model has {outputs} output{'s' if outputs != 1 else ''} but "
                f"{len(self.classes)} class names were given: pass one name per class."
            )
        self.name = name or getattr(self.model, "arch", None) or self._class_name()
        self.writer: RunWriter | None = None
        self._closed = False
        self.step_count = 0
        self.epoch = 0
        self.batch_size: int | None = None
        self.owns_checkpoints = False
        self._scalars = StepScalars(self.device)
        self._stats: list[tuple[int, torch.Tensor]] = []
        """Per stats step: the step, and the layers' |gradient| sums, then their norms."""
        self._taken: dict[str, int] = {}
        """The last step each heavy cadence recorded."""
        self.plane_function: dict[str, Any] | None = None
        """The manifest's ``schema.PLANE_FUNCTION`` when the planes are computed from the
        recorded parameters rather than stored (a plain MLP); None otherwise."""
        self._committed = self._flushed = self._weights_saved = time.monotonic()
        if config is None:
            self.act_layers: list[str] = []
            self.weight_layers: list[str] = []
            self.stat_layers: list[str] = []
            self.plan = Plan([], {})
            return
        self._choose_layers(config)
        self._set_probe(probe_x, probe_y)
        self.plane_function = self._plane_function() if self.plane else None
        self.plan = self._plan()
        self._next_event = self.plan.next_event(0)
        self._check_flush_at = min(config.flush_every, MAX_BUFFERED_STEPS)
        """Steps kept before a step asks whether a flush is due."""

    # -- what to record -------------------------------------------------------------------
    def _class_name(self) -> str:
        """The model's class, for captions; an ``nn.Sequential`` says what it stacks."""
        if type(self.model) is not nn.Sequential:
            return type(self.model).__name__
        kinds = {info.kind for info in self.graph.layers}
        return f"Sequential {'CNN' if schema.CONV in kinds else 'MLP'}"

    def _probe(self, probe: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        size = self.config.probe_size if self.config else 8
        if probe is None:
            if self.data is None:
                raise NnreelError("record() needs probe=(inputs, labels) or data=… to pick one.")
            x, y = pick_probe(self.data, size)
            return self.data.to_model(x), y
        if isinstance(probe, (tuple, list)):
            x, y = probe
            return torch.as_tensor(x).detach().cpu(), torch.as_tensor(y).detach().cpu().long()
        return torch.as_tensor(probe).detach().cpu(), None

    def _trace(self) -> ModelGraph:
        requested = list(self.config.layers or []) if self.config else []
        requested += list(self.config.weight_layers or []) if self.config else []
        return trace_model(self.model, self._example, requested)

    def _classes(self, classes: Sequence[str] | None) -> list[str]:
        if classes:
            return [str(c) for c in classes]
        if self.data is not None and self.data.classes:
            return list(self.data.classes)
        count = self.graph.num_outputs
        return [str(i) for i in range(2 if count == 1 else count)]

    def _choose_layers(self, config: RecordConfig) -> None:
        layers = self.graph.layers
        if config.layers is not None:
            self.act_layers = [_resolved(self.graph, name) for name in config.layers]
        else:
            self.act_layers = [i.name for i in layers if i.kind in schema.RECORDED_KINDS]
        if config.weight_layers is not None:
            self.weight_layers = [_resolved(self.graph, name) for name in config.weight_layers]
            bare = [n for n in self.weight_layers if not self.graph.layer(n).module]
            if bare:
                raise NnreelError(
                    f"Layers {', '.join(bare)} hold no conv or linear weight; weight layers "
                    f"can be: {', '.join(i.name for i in layers if i.module)}."
                )
        else:
            self.weight_layers = default_weight_layers(layers)
        self.stat_layers = [i.name for i in layers if i.module]
        self._modules = {i.name: self.model.get_submodule(i.module) for i in layers if i.module}

    def _set_probe(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        if self.plane:
            extent = self.config.extent or (self.data.extent if self.data else None)
            self.extent = list(extent or DEFAULT_EXTENT)
            mesh = plane_mesh(self.extent, self.config.mesh)
            self.mesh_size = len(mesh)
            val = self.data.val if self.data and self.data.val is not None else None
            held_out = self.data.to_model(val.x) if val is not None else torch.zeros(0, 2)
            self.probe = torch.cat([mesh, held_out]).to(self.device)
            return
        self.probe = x.float().to(self.device)
        self.probe_labels = y if y is not None else predictions(self._logits(self.probe)).cpu()
        self.probe_images = _display_images(x, self.normalize) if self.kind == "image" else None

    def _plane_function(self) -> dict | None:
        """``schema.PLANE_FUNCTION`` when the model is a plain chain whose planes the store
        computes from its parameters (checked on the probe), else None: planes are stored."""
        chain = self.graph.dense_chain()
        if chain is None:
            return None
        names = [name for name, _, _ in chain]
        with _eval(self.model), torch.no_grad():
            tapped = self.graph.tap([LOGITS, *names[:-1]])(self.probe)
        kinds = {name: self.graph.layer(name).kind for name in names}
        extent, mesh = self.extent, self.config.mesh
        return plane_function(chain, self._modules, kinds, self.probe, tapped, extent, mesh)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        with _eval(self.model), torch.no_grad():
            return self.graph.tap([LOGITS])(x)[LOGITS]

    # -- the plan -------------------------------------------------------------------------
    def _plan(self) -> Plan:
        c = self.config
        stats = c.stats
        if stats == "auto" and self.total_steps:
            stride = min(STATS_STRIDE, self.total_steps // STATS_MIN_POINTS)
            stats = f"every:{max(1, stride, self.total_steps // STATS_POINTS)}"
        elif stats == "auto":  # a loop of unknown length: log-spaced, so a short one has some
            stats = f"log:{STATS_POINTS}"
        self.cadences = {
            "snapshots": c.snapshots,
            "weights": c.weights,
            "stats": stats,
            "epoch": "epoch",
            "once": "once",
            "scalars": "every:1",
        }
        due = {
            key: Due(cadence, self.total_steps, self.steps_per_epoch)
            for key, cadence in self.cadences.items()
        }
        self.plan = Plan([], due)
        add = self._stream
        for name in schema.TRAIN_SCALARS:
            add(name, (), np.float32, "scalars")
        for name in (schema.VAL_LOSS, schema.VAL_ACC):
            add(name, (), np.float32, "epoch")
        for name in (schema.GRAD_ABS_MEAN, schema.WEIGHT_NORM):
            add(name, (len(self.stat_layers),), np.float32, "stats", {"layers": self.stat_layers})
        for name in self._stored_weight_layers:
            module = self._modules[name]
            meta = {"layer": name, "kind": self.graph.layer(name).kind}
            add(schema.weights(name), module.weight.shape, HEAVY, "weights", meta)
            if getattr(module, "bias", None) is not None:
                add(schema.bias(name), module.bias.shape, HEAVY, "weights", meta)
        if self.plane:
            self._plane_streams()
        else:
            self._probe_streams()
        return self.plan

    def _stream(self, name, shape, dtype, cadence_key, meta=None) -> None:
        """Add one stream to the plan; open-ended cadences make growable streams."""
        due = self.plan.due[cadence_key]
        capacity = 1024 if cadence_key == "scalars" and due.open else due.capacity
        meta = dict(meta or {})
        if due.open:
            meta["growable"] = True
        self.plan.streams.append(
            StreamInfo(
                name=name,
                dtype=np.dtype(dtype).name,
                shape=tuple(int(s) for s in shape),
                capacity=capacity,
                cadence=self.cadences[cadence_key],
                meta=meta,
            )
        )

    def _probe_streams(self) -> None:
        n, add = len(self.probe_labels), self._stream
        if self.probe_images is not None:
            add(schema.PROBE_IMAGES, self.probe_images.shape, np.uint8, "once")
        add(schema.PROBE_LABELS, (n,), np.int64, "once")
        add(schema.PROBE_PROBS, (n, len(self.classes)), np.float32, "snapshots")
        for name in self.act_layers:
            info = self.graph.layer(name)
            meta = {"layer": name, "kind": info.kind}
            add(schema.acts(name), (n, *info.output_shape), HEAVY, "snapshots", meta)

    def _plane_streams(self) -> None:
        if self.plane_function:
            self._params_streams()
        else:
            self._stored_plane_streams()
        for split in ("train", "val"):
            part = getattr(self.data, split, None) if self.data else None
            if part is not None:
                self._stream(schema.data_x(split), tuple(part.x.shape), np.float32, "once")
                self._stream(schema.data_y(split), tuple(part.y.shape), np.int64, "once")

    def _params_streams(self) -> None:
        """The fp32 parameters of every layer of the chain, from which the planes follow."""
        for entry in self.plane_function["layers"]:
            name = entry["layer"]
            module, meta = self._modules[name], {"layer": name}
            self._stream(schema.params(name), module.weight.shape, np.float32, "snapshots", meta)
            if module.bias is not None:
                shape = module.bias.shape
                self._stream(schema.params_bias(name), shape, np.float32, "snapshots", meta)

    def _stored_plane_streams(self) -> None:
        r, k, add = self.config.mesh, len(self.classes), self._stream
        meta = {"extent": self.extent, "mesh": r}
        add(schema.PLANE_PROB, (k, r, r), HEAVY, "snapshots", meta)
        add(schema.PLANE_CLASS, (r, r), np.uint8, "snapshots", meta)
        add(schema.PLANE_VAL_PROB, (len(self.probe) - self.mesh_size, k), HEAVY, "snapshots")
        for name in self.act_layers:
            info = self.graph.layer(name)
            shape = (info.output_shape[0], r, r)
            layer_meta = {**meta, "layer": name, "kind": info.kind}
            if self.graph.is_relu_of_pre(name):  # read back as ReLU of the pre-activation
                layer_meta[schema.RELU_OF] = schema.plane(name)
            else:
                add(schema.plane(name), shape, HEAVY, "snapshots", layer_meta)
            if self.graph.has_pre(name):
                add(schema.plane_pre(name), shape, HEAVY, "snapshots", layer_meta)

    @functools.cached_property
    def _taps(self) -> list[str]:
        """The graph nodes a snapshot reads (layers fixed at construction)."""
        if not self.plane:
            return [LOGITS, *self.act_layers]
        stored = [n for n in self.act_layers if not self.graph.is_relu_of_pre(n)]
        return [LOGITS, *stored, *(f"{n}.pre" for n in self.act_layers if self.graph.has_pre(n))]

    # -- the run folder -------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        """The manifest's descriptive part: the model as a graph, the data, the optimiser."""
        model = ModelInfo(
            arch=self.name,
            input_shape=list(self.graph.input_shape),
            num_classes=len(self.classes),
            builder=builder_of(self.model),
            normalize=self.normalize,
            config=dict(getattr(self.model, "config", {}) or {}),
        )
        data = self.data
        mean, std = data.stats if data is not None and data.stats else _stats(self)
        optimizer = optimizer_info(self.optimizer)
        hparams = {"epochs": None, "batch_size": None}
        if optimizer:
            hparams.update(optimizer=optimizer.name, lr=optimizer.lr, **optimizer.settings)
        computed = {schema.PLANE_FUNCTION: self.plane_function} if self.plane_function else {}
        return {
            "model": model.to_json(),
            "dataset": {
                **((data.params or {}) if data is not None else {}),
                "name": data.name if data is not None else "?",
                "params": data.params if data is not None else None,
                "kind": self.kind,
                "classes": self.classes,
                "input_shape": list(self.graph.input_shape),
                "extent": getattr(self, "extent", None) or (data.extent if data else None),
                "mean": mean,
                "std": std,
            },
            "optimizer": optimizer.to_json() if optimizer else None,
            "hparams": hparams,
            "layers": [info.to_json() for info in without_normalize(self.graph.layers)],
            "recording": self.cadences if self.config else {},
            "progress": {
                "step": 0,
                "epoch": 0,
                "epochs": None,
                "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps,
            },
            **computed,
        }

    def create(
        self,
        run: str | Path,
        *,
        header: dict[str, Any] | None = None,
        overwrite: bool = False,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        store_model: bool = True,
    ) -> Recorder:
        """Write the run's first manifest and preallocate its streams; ``header`` entries
        (the trainer's hyper-parameters, say) are merged over the recorder's own."""
        full = self.header()
        for key, value in (header or {}).items():
            if isinstance(value, dict) and isinstance(full.get(key), dict):
                full[key] = {**full[key], **value}
            else:
                full[key] = value
        folder = resolve_run(run)
        self.writer = RunWriter.create(
            folder,
            header=full,
            streams=self.plan.streams,
            budget_bytes=budget_bytes,
            overwrite=overwrite,
        )
        if store_model and full["model"].get("builder") is None:
            try:
                self._store_program()
            except BaseException as exc:
                self.writer.fail(str(exc))
                self.writer.close()
                raise
        return self

    def _store_program(self) -> None:
        from engine.recording.program import save_program

        name = save_program(self.writer, self.graph, self._example)
        self.writer.manifest["model"]["program"] = name
        self.writer.commit(durable=True)

    def attach(self, writer: RunWriter, step: int = 0, epoch: int = 0) -> None:
        """Continue an existing run (a resume) from ``step``, ``epoch`` epochs done; the
        caller then rewinds the streams of ``plan`` to ``step``. A 2-D run goes on storing or
        computing its planes as it began (one begun by an older nnreel stores them)."""
        self.writer, self.step_count, self.epoch = writer, step, epoch
        if self.config is None:
            return
        begun = writer.manifest.get(schema.PLANE_FUNCTION)
        if self.plane and begun != self.plane_function:
            self.plane_function = begun
            self.plan = self._plan()
        self._next_event = self.plan.next_event(step)

    def begin(self) -> None:
        """What a run records before training: the static data and the untrained network,
        visible to readers from the caller's next commit (a trainer's checkpoint at step 0:
        one sync of the new streams, not two)."""
        if self.config is None:
            return
        if self.plane:
            for split in ("train", "val"):
                part = getattr(self.data, split, None) if self.data else None
                if part is not None:
                    self.writer.write(schema.data_x(split), 0, part.x.numpy())
                    self.writer.write(schema.data_y(split), 0, part.y.numpy())
        else:
            if self.probe_images is not None:
                self.writer.write(schema.PROBE_IMAGES, 0, self.probe_images.numpy())
            self.writer.write(schema.PROBE_LABELS, 0, self.probe_labels.numpy())
        self.snapshot(0)

    # -- every step -----------------------------------------------------------------------
    def step(
        self,
        loss: torch.Tensor | float | None = None,
        logits: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
        *,
        acc: torch.Tensor | float | None = None,
        lr: float | None = None,
    ) -> None:
        """Record one training step: call it once per step, after ``optimizer.step()`` and
        before the next ``zero_grad()`` (the gradient statistics read the gradients).

        Nothing is copied off the device here: the loss and the accuracy (from ``logits`` and
        ``targets``, or ``acc``) wait in a buffer; snapshots due at this step are taken.
        """
        self.step_count += 1
        if self.config is None:
            return
        step = self.step_count
        if self.batch_size is None and targets is not None:
            self.batch_size = len(targets)
        if lr is None:
            lr = self.optimizer.param_groups[0]["lr"] if self.optimizer else math.nan
        kept = self._scalars
        kept.add(step, loss, lr, logits, targets, acc)  # scored at the flush
        if step >= self._next_event:
            self._take_due(step)
        ask = len(kept.rows) >= self._check_flush_at or kept.logits >= MAX_BUFFERED_LOGITS
        if ask and self._flush_due():
            self.flush()

    def _take_due(self, step: int) -> None:
        """What the cadences take at ``step``; then when the next one is due."""
        if self.plan.at("stats", step):
            self._record_stats(step)
        self.snapshot(step)
        self._next_event = self.plan.next_event(step)

    def _flush_due(self) -> bool:
        """Every ``flush_every`` steps, but for quick steps not more often than
        ``FLUSH_SECONDS``, and always before the kept logits pass their bound."""
        buffered = len(self._scalars)
        if self._scalars.logits >= MAX_BUFFERED_LOGITS or buffered >= MAX_BUFFERED_STEPS:
            return True
        return (
            buffered >= self.config.flush_every
            and time.monotonic() - self._flushed >= FLUSH_SECONDS
        )

    def snapshot(self, step: int, closing: bool = False) -> None:
        """Everything due at ``step`` except the per-step scalars. ``closing`` (an epoch's or
        the run's end in a loop of unknown length) takes what is not yet recorded at it."""
        for cadence, take in (
            ("snapshots", self._record_activations),
            ("weights", self._record_weights),
        ):
            due = self.plan.at(cadence, step) if not closing else self.plan.due[cadence].open
            if due and self._taken.get(cadence) != step:
                take(step)
                self._taken[cadence] = step

    def _record_activations(self, step: int) -> None:
        if self.plane_function:
            write_params(self.writer, step, self._modules, self.plane_function)
            return
        with _eval(self.model), torch.no_grad():
            outputs = self.graph.tap(self._taps)(self.probe)
        if self.plane:
            write_plane(self.writer, step, outputs, self.config.mesh)
            return
        probs = probabilities(outputs.pop(LOGITS).float())
        self.writer.write(schema.PROBE_PROBS, step, probs.cpu().numpy())
        for name in self.act_layers:
            self.writer.write(schema.acts(name), step, fp16(outputs[name]))

    @property
    def _stored_weight_layers(self) -> list[str]:
        """The layers whose ``weights/`` streams are stored: none when the planes are computed
        (every layer's weights are then its ``params/``, read back as ``weights/``)."""
        return [] if self.plane_function else self.weight_layers

    def _record_weights(self, step: int) -> None:
        for name in self._stored_weight_layers:
            module = self._modules[name]
            self.writer.write(schema.weights(name), step, fp16(module.weight))
            if getattr(module, "bias", None) is not None:
                self.writer.write(schema.bias(name), step, fp16(module.bias))

    @torch.no_grad()
    def _record_stats(self, step: int) -> None:
        """|gradient| sums and weight norms of every weighted layer (``abs_sums``, and one
        fused reduction over all the weights, as ``clip_grad_norm_`` does, in fp32) and one
        stack, kept on the device until the next flush copies them off with the scalars and
        turns the sums into means."""
        params = [self._modules[name].weight for name in self.stat_layers]
        if not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        norms = torch._foreach_norm(params, 2, dtype=torch.float32)
        self._stats.append((step, torch.stack([*abs_sums(grads), *norms])))

    def flush(self, force: bool = False, **progress: Any) -> tuple[float, float] | None:
        """Copy buffered scalars to the store in one transfer; returns the mean loss and
        accuracy of the flushed steps (None when nothing was buffered).

        The manifest is committed at most every ``COMMIT_SECONDS`` (or when ``force``), so a
        killed run loses at most that much and tiny fast models do not spend their time on it.
        Raises ``TrainingDiverged`` at the first non-finite loss, after committing the steps
        before it, so the run stays readable up to there.
        """
        progress.setdefault("step", self.step_count)
        progress.setdefault("epoch", self.epoch)
        self._flushed = now = time.monotonic()
        means = None
        if self._stats:
            self._write_stats()
        if self._scalars:
            means = self._write_scalars(progress)
        if force or now - self._committed >= COMMIT_SECONDS:
            self.writer.commit(**progress)
            self._committed = now
        return means

    def _write_stats(self) -> None:
        steps = np.array([step for step, _ in self._stats])
        values = torch.stack([both for _, both in self._stats]).cpu().numpy()  # one transfer
        values = values.reshape(len(steps), 2, -1)
        self._stats.clear()
        sizes = [self._modules[name].weight.numel() for name in self.stat_layers]
        self.writer.write_many(schema.GRAD_ABS_MEAN, steps, values[:, 0] / np.array(sizes))
        self.writer.write_many(schema.WEIGHT_NORM, steps, values[:, 1])

    def _write_scalars(self, progress: dict[str, Any]) -> tuple[float, float]:
        kept, self._scalars = self._scalars, StepScalars(self.device)
        steps, values = kept.table()
        bad = np.flatnonzero(~np.isfinite(values[:, 0]))
        keep = bad[0] if len(bad) else len(steps)
        for column, name in enumerate(schema.TRAIN_SCALARS):
            self.writer.write_many(name, steps[:keep], values[:keep, column])
        if self.batch_size and self.writer.manifest["hparams"].get("batch_size") is None:
            self.writer.manifest["hparams"]["batch_size"] = self.batch_size
        if len(bad):
            self.writer.commit(**progress)
            raise TrainingDiverged(
                f"The loss became {values[keep, 0]} at step {steps[keep]}: training stopped "
                "there. Everything recorded before that step is kept. Lower the learning "
                "rate (--lr, or your optimizer's lr) or use a gentler optimizer, then train "
                "again."
            )
        known = values[~np.isnan(values[:, 1]), 1]  # steps given no accuracy are NaN
        return float(values[:, 0].mean()), float(known.mean()) if len(known) else math.nan

    # -- epochs ---------------------------------------------------------------------------
    def validate(
        self,
        data: Any = None,
        *,
        loss: float | None = None,
        acc: float | None = None,
        loss_fn: Any = None,
        epoch: int | None = None,
    ) -> tuple[float, float]:
        """Record a validation at the current step and count an epoch (unless at step 0).

        Give the numbers (``loss=…, acc=…``), or data to evaluate on (a DataLoader, Dataset or
        tensors; default: what ``record`` got as ``data``), evaluated in ``eval()`` mode with
        ``loss_fn`` (default cross-entropy). ``epoch`` is the epoch this validation ends, for
        a loop that knows it (a resumed trainer); by default one more than the last. Returns
        the loss and accuracy. A user's loop (``record``) commits the numbers at once and
        saves its weights too, when the last save is ``EPOCH_WEIGHTS_SECONDS`` old.
        """
        if loss is None:
            loss, acc = self.evaluate(data, loss_fn)
        if not math.isfinite(float(loss)):
            self.flush()  # a training loss that diverged is named first, at its step
            raise TrainingDiverged("The validation loss is not finite: the model has diverged.")
        acc = math.nan if acc is None else float(acc)
        step = self.step_count
        if step > 0:
            self.epoch = self.epoch + 1 if epoch is None else epoch
            self._learn_epoch_length(step)
        if self.config is not None:
            self.writer.write(schema.VAL_LOSS, step, np.float32(loss))
            self.writer.write(schema.VAL_ACC, step, np.float32(acc))
            self.snapshot(step, closing=True)
        if self.owns_checkpoints:  # a user's loop: its numbers now, its weights now and then
            if time.monotonic() - self._weights_saved >= EPOCH_WEIGHTS_SECONDS:
                self.save_weights(CHECKPOINT_FILE)
            self.flush(force=True)
        elif self.config is not None and self._flush_due():
            self.flush()  # else with the next steps: a quick epoch's end costs no extra flush
        return float(loss), acc

    def _learn_epoch_length(self, step: int) -> None:
        """A loop that did not say its length: its first epoch tells the steps per epoch, and
        the run so far its steps and epochs (what captions count in)."""
        progress = self.writer.manifest["progress"]
        if self.steps_per_epoch is None and self.epoch == 1:
            progress["steps_per_epoch"] = step
        if self.total_steps is None:
            progress["total_steps"] = step
            progress["epochs"] = self.epoch
            self.writer.manifest["hparams"]["epochs"] = self.epoch

    @torch.no_grad()
    def evaluate(self, data: Any = None, loss_fn: Any = None) -> tuple[float, float]:
        """Loss and accuracy on ``data`` (or the recorder's held-out data), in eval mode."""
        source = self.data if data is None else describe_data(data)
        if source is None:
            raise NnreelError(
                "validate() needs data: pass data= to record(), or validate(data), or the "
                "numbers themselves: validate(loss=…, acc=…)."
            )
        loss_fn = loss_fn or default_loss
        total, correct, count = 0.0, 0, 0
        kept: list[tuple[torch.Tensor, torch.Tensor]] | None = [] if self._keeps(data) else None
        room = VAL_IMAGES_BYTES
        with _eval(self.model):
            for x, y in source.batches_of():
                if kept is not None and room > 0:
                    pixels = _pixels(x[: max(1, room // x[0].numel())].cpu(), self.normalize)
                    kept.append((pixels, y[: len(pixels)].cpu()))
                    room -= pixels.numel()
                x, y = x.to(self.device), y.to(self.device)
                logits = self.model(x)
                total += float(loss_fn(logits, y)) * len(y)
                correct += int((predictions(logits) == y).sum())
                count += len(y)
        if count == 0:
            raise NnreelError("validate() got no examples.")
        if kept:
            self._keep_val_images(kept, count)
        return total / count, correct / count

    def _keeps(self, data: Any) -> bool:
        """Whether this validation keeps its images in the run: the first on the recorder's
        own image data that nnreel cannot load again by name."""
        source, writer = self.data, self.writer
        return (
            data is None
            and source is not None
            and source.kind == "image"
            and source.params is None
            and writer is not None
            and self.config is not None
            and schema.data_x("val") not in writer.streams
        )

    def _keep_val_images(self, kept: list[tuple[torch.Tensor, torch.Tensor]], seen: int) -> None:
        images = torch.cat([x for x, _ in kept]).numpy()
        labels = torch.cat([y for _, y in kept]).long().numpy()
        meta = {"of": seen}  # the validation set's size: more than kept when it is large
        try:  # the images first: once they are in, no later validation keeps them again
            for name, array in ((schema.data_x("val"), images), (schema.data_y("val"), labels)):
                shape, dtype = array.shape, str(array.dtype)
                self.writer.add_stream(StreamInfo(name, dtype, shape, 1, cadence="once", meta=meta))
                self.writer.write(name, 0, array)
        except DiskFullError as exc:  # a nicety: the training goes on without it
            console.print(f"[yellow]note:[/] the validation images were not kept: {exc}")
            return
        if len(images) < seen:
            console.print(
                f"[dim]kept the first {len(images):,} of {seen:,} validation images in the run "
                "(for dataset examples)[/]"
            )

    # -- the end --------------------------------------------------------------------------
    def save_weights(self, file: str = MODEL_FILE) -> None:
        """The model's weights into the run through its writer (``model.pt``: final;
        ``checkpoint.pt``: the latest, under ``"model"``, with every snapshot it covers
        committed first), saved atomically and loaded with ``weights_only``."""
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        if file == CHECKPOINT_FILE:
            self.flush(step=self.step_count, epoch=self.epoch)
            checkpoint = {"model": state, "step": self.step_count, "epoch": self.epoch}
            self.writer.save_checkpoint(checkpoint, step=self.step_count, epoch=self.epoch)
            self._committed = self._weights_saved = time.monotonic()
        else:
            self.writer.save_tensors(file, state)

    def close(self, status: str = "finished", message: str = "") -> None:
        """Commit everything, save the final weights, mark the run ``status`` and release it
        for the next writer. Whatever fails on the way (a full disk, say) is marked in the
        run as its failure, and the lock is released all the same."""
        if self.writer is None or self._closed:
            return
        self._closed = True
        writer = self.writer
        try:
            if self.config is not None:
                self.snapshot(self.step_count, closing=True)
                self.flush(force=True)
            if self.total_steps is None:
                writer.manifest["progress"]["total_steps"] = self.step_count
            if status == "finished":
                self.save_weights(MODEL_FILE)
            elif self.owns_checkpoints:
                self.save_weights(CHECKPOINT_FILE)
            writer.set_status(status, message, epochs_done=self.epoch)
        except BaseException as exc:
            writer.fail(str(exc) or type(exc).__name__)
            raise
        finally:
            writer.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is None:
            self.close()
        elif issubclass(kind, KeyboardInterrupt):
            self.close("interrupted", "stopped by the user")
        else:
            self.close("failed", str(error))
        return False

    @property
    def folder(self) -> Path:
        return self.writer.folder


def record(
    model: nn.Module,
    run: str | Path,
    *,
    probe: Any = None,
    data: Any = None,
    classes: Sequence[str] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    layers: Sequence[str] | str = "auto",
    normalize: tuple[Sequence[float], Sequence[float]] | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    config: RecordConfig | None = None,
    name: str | None = None,
    overwrite: bool = False,
    budget_gb: float = 4.0,
) -> Recorder | OtherRank:
    """Start recording ``model`` into ``run`` (a name under ``runs/`` or a folder).

    probe
        ``(inputs, labels)`` (or inputs alone) of a few fixed examples whose activations are
        recorded through training; default: one of each class from ``data``.
    data
        The held-out data: a DataLoader, Dataset, tensors ``(x, y)`` or nnreel ``Data``.
        Gives ``validate()`` its default, the probe, the class names and the dataset's name
        (a torchvision dataset's ``transforms.Normalize`` is found by itself).
    classes
        Class names, for captions (default: the data's, else 0, 1, 2, …).
    optimizer
        Its name and learning rate go into the manifest and the learning rate is recorded.
    layers
        ``"auto"`` (every conv, linear and pool output after its activation, every merge),
        or names: layer names, graph node names (``layer1.0.relu_1``) or modules
        (``layer1.0``).
    normalize
        ``(mean, std)`` when the model's inputs are normalised images, so probe images are
        shown as pixels and the stored model takes pixels.
    epochs, steps_per_epoch
        The loop's length, when known: cadences then spread over it. Without them every
        stream grows as needed and ``log:N`` cadences space themselves for a loop of
        ten thousand steps and go on.
    name
        The model's name in captions ("LeNet-5"); default: its class's (an ``nn.Sequential``
        is a "Sequential CNN" or "Sequential MLP").

    Use it as a context manager (or call ``close()``): the run is marked finished and the
    final weights saved. Under ``torchrun``, rank 0 records; the other ranks get a recorder
    that records nothing. A killed process leaves a run readable up to its last commit (at
    most a second before).
    """
    if _other_rank():
        return OtherRank()
    source = describe_data(data, classes=classes) if data is not None else None
    config = config or RecordConfig()
    if layers != "auto":
        config.layers = [layers] if isinstance(layers, str) else list(layers)
    total = epochs * steps_per_epoch if epochs and steps_per_epoch else None
    recorder = Recorder(
        model,
        data=source,
        probe=probe,
        classes=classes,
        optimizer=optimizer,
        config=config,
        total_steps=total,
        steps_per_epoch=steps_per_epoch,
        normalize=normalize,
        name=name,
    )
    header = {"hparams": {"epochs": epochs}, "progress": {"epochs": epochs}}
    recorder.create(run, header=header, overwrite=overwrite, budget_bytes=int(budget_gb * 1024**3))
    recorder.owns_checkpoints = True
    try:
        recorder.begin()
        recorder.flush(force=True)
    except BaseException as exc:
        recorder.close("failed", str(exc))
        raise
    return recorder


class OtherRank:
    """What ``record`` returns on every process but rank 0 of a ``torchrun`` job: the same
    calls, recording nothing (rank 0 records the run)."""

    step_count = 0

    def step(self, *args: Any, **kwargs: Any) -> None:
        self.step_count += 1

    def validate(self, *args: Any, **kwargs: Any) -> tuple[float, float]:
        return math.nan, math.nan

    def close(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __enter__(self) -> OtherRank:
        return self

    def __exit__(self, *exc: Any) -> bool:
        return False


def _other_rank() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_rank() != 0


# -- helpers ----------------------------------------------------------------------------------
class _eval:
    """Eval mode for the duration, the previous mode restored after."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self) -> None:
        self.training = self.model.training
        self.model.eval()

    def __exit__(self, *exc) -> None:
        self.model.train(self.training)


def _is_wrapper(model: nn.Module) -> bool:
    return type(model).__name__ in ("DistributedDataParallel", "DataParallel")


def _device_of(model: nn.Module) -> torch.device:
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")


def _resolved(graph: ModelGraph, name: str) -> str:
    graph.layer(name)  # requested names are layers of the traced graph; others get the list
    return name


def _input_kind(x: torch.Tensor, data: DataSource | None) -> str:
    if data is not None:
        return data.kind
    return "image" if x.dim() == 4 else "plane" if x.shape[1:] == (2,) else "vector"


def _normalize_dict(normalize) -> dict[str, list[float]] | None:
    if normalize is None or isinstance(normalize, dict):
        return normalize
    mean, std = normalize
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}


def _display_images(x: torch.Tensor, normalize: dict[str, list[float]] | None) -> torch.Tensor:
    """Probe inputs as the uint8 pixels people look at (undoing ``normalize``), with a note
    when they do not look like images in [0, 1]."""
    if x.dtype == torch.uint8:
        return x
    pixels = _unnormalised(x, normalize)
    if pixels.min() < -0.02 or pixels.max() > 1.02:
        console.print(
            "[yellow]note:[/] the probe images are not in [0, 1]; if the model takes "
            "normalised images, pass normalize=(mean, std) to record() so they show right."
        )
    return _to_uint8(pixels)


def _pixels(x: torch.Tensor, normalize: dict[str, list[float]] | None) -> torch.Tensor:
    """Model inputs as uint8 pixels (undoing ``normalize``)."""
    return x if x.dtype == torch.uint8 else _to_uint8(_unnormalised(x, normalize))


def _to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels.clamp(0, 1) * 255).round().to(torch.uint8)


def _unnormalised(x: torch.Tensor, normalize: dict[str, list[float]] | None) -> torch.Tensor:
    pixels = x.float()
    if normalize:
        shape = (1, -1, *([1] * (x.dim() - 2)))
        pixels = pixels * torch.tensor(normalize["std"]).view(shape)
        pixels = pixels + torch.tensor(normalize["mean"]).view(shape)
    return pixels


def _stats(recorder: Recorder) -> tuple[list[float] | None, list[float] | None]:
    """Channel mean and std for activation maximisation's colours: the normalisation's, else
    the probe images'."""
    if recorder.normalize:
        return recorder.normalize["mean"], recorder.normalize["std"]
    images = getattr(recorder, "probe_images", None)
    if images is None:
        return None, None
    x = images.double() / 255
    dims = [0, *range(2, x.dim())]
    return x.mean(dims).tolist(), x.std(dims, unbiased=False).tolist()
