"""Runs written straight through the store from fixed numbers, for tests that compare pixels.

Training gives weights that differ in the last digits from one CPU (or thread count) to the
next: enough to reorder "the most active channels" and change a rendered frame. The runs made
here hold numbers computed by numpy from a seed, in float64, and only then rounded to the
stream's dtype (fp16 for activations), so a frame rendered from one is the same on every
machine. They have the real layer table of a real architecture, so scenes walk them exactly
as they walk a trained run; what they lack is a model file (nothing here was trained).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.models import build_model
from engine.store import RunWriter, StreamInfo, schema
from engine.store.run import layer_table_json
from engine.summary import layer_table

GLYPHS = {
    0: ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    1: ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    2: ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    3: ("11110", "00001", "00001", "01110", "00001", "00001", "11110"),
    4: ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    5: ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    6: ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    7: ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    8: ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    9: ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
}
"""A 5×7 bitmap font: the probe images are these digits, drawn large and softened."""


def digit_image(digit: int, size: int = 32) -> np.ndarray:
    """A [size, size] uint8 picture of ``digit``: the 5×7 glyph at 4 px per dot, centred,
    edges softened by a 3×3 box average (exact in float64)."""
    glyph = np.array([[c == "1" for c in row] for row in GLYPHS[digit]], dtype=np.float64)
    big = np.kron(glyph, np.ones((4, 4)))
    canvas = np.zeros((size, size))
    top, left = (size - big.shape[0]) // 2, (size - big.shape[1]) // 2
    canvas[top : top + big.shape[0], left : left + big.shape[1]] = big
    soft = sum(np.roll(canvas, (dy, dx), axis=(0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    return np.round(soft / 9 * 255).astype(np.uint8)


def _conv3x3(x: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """[C_in, H, W] through [C_out, C_in, 3, 3] with zero padding, as shifted sums."""
    c_in, h, w = x.shape
    padded = np.zeros((c_in, h + 2, w + 2))
    padded[:, 1:-1, 1:-1] = x
    out = np.zeros((kernels.shape[0], h, w))
    for dy in range(3):
        for dx in range(3):
            window = padded[:, dy : dy + h, dx : dx + w].reshape(c_in, -1)
            out += (kernels[:, :, dy, dx] @ window).reshape(-1, h, w)
    return out


def _pool(x: np.ndarray) -> np.ndarray:
    c, h, w = x.shape
    return x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))


class _Net:
    """A fixed random network over the probe images: ``at(t)`` blends its initial weights
    (t = 0) into its final ones (t = 1), so features "emerge" across the snapshots."""

    def __init__(self, layers, input_channels: int, rng: np.random.Generator, linear=()):
        self.layers = layers
        self.linear = set(linear)
        self.start, self.end = {}, {}
        channels = input_channels
        for info in layers:
            if info.kind == "conv":
                shape = (info.output_shape[0], channels, 3, 3)
                channels = info.output_shape[0]
            elif info.kind in schema.DENSE_KINDS:
                shape = (info.output_shape[0], channels)
                channels = info.output_shape[0]
            else:
                continue
            fan_in = int(np.prod(shape[1:]))
            self.start[info.name] = rng.uniform(-1, 1, shape) / np.sqrt(fan_in)
            self.end[info.name] = rng.uniform(-1, 1, shape) * 2 / np.sqrt(fan_in)
            self.end[info.name][0] = np.abs(self.end[info.name][0])  # channel 0 always fires
        self.gain = {n: rng.uniform(0.2, 1.0, len(w)) for n, w in self.end.items()}

    def weights(self, name: str, t: float) -> np.ndarray:
        return (1 - t) * self.start[name] + t * self.end[name]

    def forward(self, image: np.ndarray, t: float) -> dict[str, np.ndarray]:
        """Every layer's output on one [C, H, W] image in [0, 1]; ReLU after conv and dense,
        except after the layers named ``linear`` (their outputs go below zero)."""
        x, out = image, {}
        for info in self.layers:
            relu = info.name not in self.linear
            if info.kind == "conv":
                x = _conv3x3(x, self.weights(info.name, t)) * self.gain[info.name][:, None, None]
                x = np.maximum(x, 0) if relu else x
            elif info.kind == "pool":
                x = _pool(x)
            elif info.kind == "flatten":
                x = x.reshape(-1)
            elif info.kind in schema.DENSE_KINDS:
                x = self.weights(info.name, t) @ x.reshape(-1)
                if info.kind != "logits":
                    x = x * self.gain[info.name]
                    x = np.maximum(x, 0) if relu else x
            out[info.name] = x / max(float(np.abs(x).max()), 1e-6)
        return out


def write_cnn_run(
    folder: Path,
    *,
    arch: str = "vgg16",
    settings: dict | None = None,
    probe: int = 8,
    snapshot_steps: tuple[int, ...] = (0, 1, 2, 4, 8, 16),
    steps_per_epoch: int = 8,
    seed: int = 0,
    linear: tuple[str, ...] = (),
) -> Path:
    """A finished run of ``arch`` on digits whose every number comes from ``seed``; the layers
    named ``linear`` have no ReLU after them, so their recorded values go below zero.

    Records what a trained run's scenes read: probe images, labels, activations and
    probabilities at ``snapshot_steps``, per-step loss/accuracy/learning rate, validation at
    every epoch, gradient and weight statistics, and weights of the first conv of each block.
    """
    model = build_model(arch, **{"width": 0.25, **(settings or {})})
    layers = layer_table(model)
    rng = np.random.default_rng(seed)
    total = snapshot_steps[-1]
    epochs = total // steps_per_epoch
    images = np.stack([digit_image(i % 10) for i in range(probe)])[:, None]
    images = np.repeat(images, model.input_shape[0], axis=1)
    labels = np.arange(probe) % 10
    net = _Net(layers, model.input_shape[0], rng, linear)
    times = [np.sqrt(step / total) for step in snapshot_steps]  # fast early, like training
    acts = [[net.forward(image / 255.0, t) for image in images] for t in times]

    recorded = [info for info in layers if info.kind != "flatten"]
    weighted = [info.name for info in layers if info.name in net.end]
    firsts = [
        info.name
        for before, info in zip([None, *layers[:-1]], layers, strict=True)
        if info.kind == "conv" and (before is None or before.kind == "pool")
    ]
    n, s = len(snapshot_steps), total
    streams = {
        schema.TRAIN_LOSS: ((), "float32", s),
        schema.TRAIN_ACC: ((), "float32", s),
        schema.TRAIN_LR: ((), "float32", s),
        schema.VAL_LOSS: ((), "float32", epochs + 1),
        schema.VAL_ACC: ((), "float32", epochs + 1),
        schema.GRAD_ABS_MEAN: ((len(weighted),), "float32", s),
        schema.WEIGHT_NORM: ((len(weighted),), "float32", s),
        schema.PROBE_IMAGES: (images.shape, "uint8", 1),
        schema.PROBE_LABELS: (labels.shape, "int64", 1),
        schema.PROBE_PROBS: ((probe, model.num_classes), "float32", n),
        **{schema.weights(name): (net.end[name].shape, "float16", n) for name in firsts},
        **{schema.acts(i.name): ((probe, *i.output_shape), "float16", n) for i in recorded},
    }
    infos = []
    for name, (shape, dtype, capacity) in streams.items():
        layer = schema.layer_of(name)
        meta = {"layers": weighted} if name in (schema.GRAD_ABS_MEAN, schema.WEIGHT_NORM) else {}
        if name in (schema.acts(layer), schema.weights(layer)):
            meta = {"layer": layer, "kind": next(i.kind for i in layers if i.name == layer)}
        infos.append(StreamInfo(name, dtype, tuple(shape), capacity, cadence="fixed", meta=meta))

    writer = RunWriter.create(
        folder, header=_header(model, layers, epochs, steps_per_epoch), streams=infos
    )
    steps = np.arange(1, s + 1)
    progress = steps / s
    writer.write_many(schema.TRAIN_LOSS, steps, 2.3 / (1 + 8 * progress) + rng.uniform(0, 0.1, s))
    writer.write_many(schema.TRAIN_ACC, steps, np.minimum(0.1 + 0.9 * np.sqrt(progress), 1.0))
    writer.write_many(schema.TRAIN_LR, steps, np.full(s, 1e-3))
    val_steps = np.arange(epochs + 1) * steps_per_epoch
    writer.write_many(schema.VAL_LOSS, val_steps, 2.3 / (1 + 4 * np.arange(epochs + 1)))
    writer.write_many(schema.VAL_ACC, val_steps, 1 - 0.9 / (1 + 8 * np.arange(epochs + 1) ** 2))
    grads = rng.uniform(0.5, 2.0, (s, len(weighted))) * 1e-2 / (1 + 4 * progress[:, None])
    writer.write_many(schema.GRAD_ABS_MEAN, steps, grads)
    norms = 1 + progress[:, None] * rng.uniform(0.5, 1.0, len(weighted))
    writer.write_many(schema.WEIGHT_NORM, steps, norms)
    writer.write(schema.PROBE_IMAGES, 0, images)
    writer.write(schema.PROBE_LABELS, 0, labels)
    snaps = np.asarray(snapshot_steps)
    writer.write_many(schema.PROBE_PROBS, snaps, np.stack([_probs(labels, t, rng) for t in times]))
    for name in firsts:
        writer.write_many(
            schema.weights(name), snaps, np.stack([net.weights(name, t) for t in times])
        )
    for info in recorded:
        values = np.stack([np.stack([a[info.name] for a in at]) for at in acts])
        writer.write_many(schema.acts(info.name), snaps, values * 4)
    writer.commit(durable=True, step=s, epoch=epochs)
    writer.set_status("finished")
    writer.close()
    return folder


def _probs(labels: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    """Class probabilities that start even and end sure of the true class."""
    rest = rng.uniform(0.5, 1.5, (len(labels), 10))
    rest[np.arange(len(labels)), labels] = 0
    rest *= (1 - (0.1 + 0.85 * t)) / rest.sum(axis=1, keepdims=True)
    rest[np.arange(len(labels)), labels] = 0.1 + 0.85 * t
    return rest


def _header(model, layers, epochs: int, steps_per_epoch: int) -> dict:
    data = {"name": "digits", "seed": 0, "image_size": 32, "channels": model.input_shape[0]}
    return {
        "model": model.describe(),
        "dataset": {
            **data,
            "params": data,
            "kind": "image",
            "classes": [str(i) for i in range(10)],
            "input_shape": list(model.input_shape),
            "extent": None,
            "mean": [0.14] * model.input_shape[0],
            "std": [0.28] * model.input_shape[0],
        },
        "hparams": {"optimizer": "adam", "lr": 1e-3, "epochs": epochs, "batch_size": 64},
        "layers": layer_table_json(layers),
        "progress": {
            "step": 0,
            "epoch": 0,
            "epochs": epochs,
            "steps_per_epoch": steps_per_epoch,
            "total_steps": epochs * steps_per_epoch,
        },
    }


CHAIN_WEIGHTS = (
    (np.array([[1, 0], [0, 1], [1, 1]], np.float32), np.array([0, 0, -1], np.float32)),
    (np.array([[1, 1, -1]], np.float32), np.array([0.5], np.float32)),
)
"""A (3,) ReLU MLP whose units over the plane are relu(x), relu(y), relu(x + y - 1) and whose
logit is their sum minus twice the last, plus 0.5: numbers a test can write by hand."""


def write_chain_plane_run(folder: Path, mesh: int = 3, snapshots: int = 2) -> Path:
    """A 2-D run whose planes are computed (``schema.PLANE_FUNCTION``), written straight from
    ``CHAIN_WEIGHTS`` scaled by the snapshot's number (1, 2, …), with three held-out points."""
    layers = [("hidden", "dense", "ReLU"), ("output", "logits", "")]
    streams = [StreamInfo(schema.data_x("val"), "float32", (3, 2), 1, cadence="once")]
    for (name, _, _), (weight, bias) in zip(layers, CHAIN_WEIGHTS, strict=True):
        meta = {"layer": name}
        streams.append(
            StreamInfo(schema.params(name), "float32", weight.shape, snapshots, 0, "log:2", meta)
        )
        streams.append(
            StreamInfo(schema.params_bias(name), "float32", bias.shape, snapshots, 0, "log:2", meta)
        )
    header = {
        "model": {"arch": "mlp", "input_shape": [2], "num_classes": 2},
        "dataset": {"name": "ring", "kind": "plane", "classes": ["disc", "ring"]},
        "layers": [
            {
                "name": n,
                "kind": k,
                "output_shape": [len(w)],
                "params": w.size + b.size,
                "macs": w.size,
            }
            for (n, k, _), (w, b) in zip(layers, CHAIN_WEIGHTS, strict=True)
        ],
        "progress": {"step": 0},
        schema.PLANE_FUNCTION: {
            "extent": [-1.0, 1.0, -1.0, 1.0],
            "mesh": mesh,
            "layers": [{"layer": n, "activation": a, "alpha": 0.0} for n, _, a in layers],
        },
    }
    with RunWriter.create(folder, header=header, streams=streams) as writer:
        writer.write(schema.data_x("val"), 0, np.array([[0, 0], [1, 1], [-1, 0.5]], np.float32))
        for i in range(snapshots):
            for (name, _, _), (weight, bias) in zip(layers, CHAIN_WEIGHTS, strict=True):
                writer.write(schema.params(name), 10 * i, weight * (i + 1))
                writer.write(schema.params_bias(name), 10 * i, bias * (i + 1))
        writer.commit(step=10 * (snapshots - 1))
        writer.set_status("finished")
    return folder
