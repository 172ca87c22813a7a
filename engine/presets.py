"""Named training set-ups: each preset is a full ``TrainConfig`` that flags can override."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from engine.errors import UnknownNameError
from engine.training.config import RecordConfig, TrainConfig


@dataclass(frozen=True)
class Preset:
    description: str
    config: TrainConfig


def ring_config(noise: float, spread: float) -> TrainConfig:
    """Seed 002's (9, 9) ReLU MLP on ring-versus-disc points in the plane (``noise`` of the
    ring's radius, ``spread`` of the disc); it trains in seconds.

    Its steps take half a millisecond. Its planes are computed from its parameters, recorded
    in fp32 at each snapshot (``engine.store.computed``), so a snapshot costs the recording a
    few hundred bytes: the fit is sampled on a 64 mesh at about 60 log-spaced steps (rendered
    side by side with 116 snapshots on a 96 mesh, every frame of the fitting scene matched,
    PSNR ≥ 44 dB at 720p), and the run holds 0.4 MB (82 MB when every plane was stored)."""
    return TrainConfig(
        model="mlp",
        dataset="ring",
        data_settings={"noise": noise, "spread": spread},
        epochs=40,
        batch_size=32,
        lr=0.02,
        momentum=0.9,
        record=RecordConfig(snapshots="log:60", weights="log:60", mesh=64),
    )


PRESETS: dict[str, Preset] = {
    "vgg16-synth": Preset(
        "slim VGG-16 (width 1/4) on the offline procedural digits, 32×32, Adam; ≈98 % after "
        "2 epochs, a few CPU minutes, no download (the default run of the scenes)",
        TrainConfig(
            model="vgg16",
            dataset="digits",
            model_settings={"width": 0.25},
            data_settings={"image_size": 32, "train_size": 6000, "val_size": 1000},
            epochs=2,
            batch_size=64,
            optimizer="adam",
            lr=1e-3,
        ),
    ),
    "vgg16-mnist": Preset(
        "seed 000: full VGG-16 on MNIST resized to 32×32, SGD lr 0.01 momentum 0.5, batch 64, "
        "10 epochs (needs the MNIST files: --download)",
        TrainConfig(
            model="vgg16",
            dataset="mnist",
            data_settings={"image_size": 32},
            epochs=10,
            batch_size=64,
            lr=0.01,
            momentum=0.5,
            record=RecordConfig(weights="log:30"),
        ),
    ),
    "mlp-ring": Preset(
        "seed 002's (9, 9) ReLU MLP fitting a ring around a disc in the plane, drawn with less "
        "noise than seed 002's so the fit reads at a glance (99.7 % is possible); trains in "
        "seconds",
        ring_config(noise=0.15, spread=0.12),
    ),
    "mlp-ring-seed002": Preset(
        "seed 002 exactly: the same MLP on its ring-versus-disc data (radius noise 0.3, disc "
        "spread 0.3: the classes overlap, so about 79 % is the best any model can do)",
        ring_config(noise=0.3, spread=0.3),
    ),
    "smallcnn-synth": Preset(
        "seed 003's MNIST CNN on the offline procedural digits; no download",
        TrainConfig(
            model="smallcnn",
            dataset="digits",
            data_settings={"train_size": 6000, "val_size": 1000},
            epochs=2,
            batch_size=64,
            optimizer="adam",
            lr=1e-3,
        ),
    ),
    "smallcnn-mnist": Preset(
        "seed 003: Conv 64 → pool → Conv 32 → pool → Dense 10 on MNIST, Adam, 3 epochs "
        "(needs the MNIST files: --download)",
        TrainConfig(
            model="smallcnn", dataset="mnist", epochs=3, batch_size=128, optimizer="adam", lr=1e-3
        ),
    ),
    "smallcnn-svhn": Preset(
        "seed 003: the 1.25 M-parameter SVHN CNN on 32×32 RGB house numbers, Adam, 20 epochs "
        "(needs the SVHN files: --download)",
        TrainConfig(
            model="smallcnn",
            dataset="svhn",
            model_settings={"variant": "svhn"},
            epochs=20,
            batch_size=128,
            optimizer="adam",
            lr=1e-3,
        ),
    ),
    "vggcifar-synth": Preset(
        "seed 004's 8-conv network, slim (width 1/4), on the offline digits as 32×32 RGB; "
        "no download (an offline stand-in for vggcifar-cifar10)",
        TrainConfig(
            model="vggcifar",
            dataset="digits",
            model_settings={"width": 0.25},
            data_settings={"image_size": 32, "channels": 3, "train_size": 6000, "val_size": 1000},
            epochs=2,
            batch_size=64,
            optimizer="adam",
            lr=1e-3,
        ),
    ),
    "vggcifar-cifar10": Preset(
        "seed 004: the 8-conv VGG (9.2 M parameters, 606 M MACs) on CIFAR-10, SGD with cosine "
        "decay (needs the CIFAR-10 files: --download)",
        TrainConfig(
            model="vggcifar",
            dataset="cifar10",
            epochs=30,
            batch_size=128,
            lr=0.05,
            momentum=0.9,
            weight_decay=5e-4,
            lr_schedule="cosine",
            record=RecordConfig(weights="log:30"),
        ),
    ),
}

DEFAULT_PRESET = "vgg16-synth"


def preset_config(name: str) -> TrainConfig:
    """A fresh copy of preset ``name``'s configuration, safe to modify."""
    if name not in PRESETS:
        raise UnknownNameError("preset", name, PRESETS)
    return copy.deepcopy(PRESETS[name].config)
