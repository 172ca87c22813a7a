"""``train``: train a preset (overridable by flags) into a run folder, or resume one."""

from __future__ import annotations

import argparse
import json

from engine.presets import DEFAULT_PRESET, PRESETS, preset_config
from engine.training.config import RecordConfig, TrainConfig


def register(subparsers) -> None:
    presets = "\n".join(f"  {name:<18} {p.description}" for name, p in PRESETS.items())
    parser = subparsers.add_parser(
        "train",
        help="train a network while recording it into a run folder",
        description="Train a preset into runs/NAME, recording as it goes. Every setting of the "
        "preset can be overridden by the flags below. Ctrl-C stops cleanly; --resume continues.",
        epilog=f"presets:\n{presets}\n\nexamples:\n"
        "  python -m engine train vgg16-synth\n"
        "  python -m engine train mlp-ring --dataset spiral --hidden 16,16 --run spiral\n"
        "  python -m engine train vgg16-mnist --data-root data --download\n"
        "  python -m engine train --resume vgg16-mnist\n"
        "  torchrun --nproc-per-node 2 -m engine train mlp-ring --run-name ddp",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("preset", nargs="?", default=None, help=f"default: {DEFAULT_PRESET}")
    parser.add_argument(
        "--run",
        "--run-name",
        dest="run",
        help="run name under runs/ or a folder (default: the preset's name); under torchrun "
        "write --run-name, as torchrun reads --run as its own --run-path",
    )
    parser.add_argument("--resume", metavar="RUN", help="continue an interrupted run")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")

    what = parser.add_argument_group("model and data")
    what.add_argument("--model", help="mlp, smallcnn, vgg16, vggcifar")
    what.add_argument(
        "--dataset",
        help="digits, mnist, mnist-test, fashion-mnist, cifar10, svhn, folder (your own "
        "images under --data-root, one sub-folder per class), "
        "ring, moons, spiral, xor, checkerboard, mask",
    )
    what.add_argument("--width", type=float, help="VGG width multiplier (0.25 = slim)")
    what.add_argument("--hidden", help="MLP hidden widths, e.g. 9,9")
    what.add_argument("--activation", help="MLP activation: relu, tanh, sigmoid, …")
    what.add_argument("--image-size", type=int, help="resize images to this side")
    what.add_argument("--train-size", type=int, help="use this many training examples")
    what.add_argument("--val-size", type=int, help="use this many validation examples")
    what.add_argument("--data-root", help="where datasets live (default: data)")
    what.add_argument("--download", action="store_true", help="download missing datasets")
    what.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="model.KEY=VALUE|data.KEY=VALUE",
        help="any other model or dataset setting (VALUE as JSON), e.g. data.path=shape.png",
    )

    how = parser.add_argument_group("optimisation")
    how.add_argument("--epochs", type=int)
    how.add_argument("--batch-size", type=int)
    how.add_argument("--optimizer", help="sgd or adam")
    how.add_argument("--lr", type=float, help="learning rate")
    how.add_argument("--momentum", type=float)
    how.add_argument("--weight-decay", type=float)
    how.add_argument("--lr-schedule", help="constant or cosine")
    how.add_argument("--seed", type=int)
    how.add_argument("--device", help="auto (default), cpu, cuda, mps")
    how.add_argument("--checkpoint-every", type=int, metavar="STEPS")
    how.add_argument(
        "--checkpoint-seconds",
        type=float,
        metavar="SECONDS",
        help="at least this long between checkpoints (default 10; 0: every --checkpoint-every)",
    )

    rec = parser.add_argument_group(
        "recording",
        "Cadences: every:N (every N steps), log:N (about N log-spaced steps, "
        "dense early), epoch, once.",
    )
    rec.add_argument("--snapshots", metavar="CADENCE", help="activations, predictions, fits")
    rec.add_argument("--weights-cadence", metavar="CADENCE")
    rec.add_argument("--stats-cadence", metavar="CADENCE", help="gradient and weight-norm stats")
    rec.add_argument("--probe-size", type=int, help="probe images whose activations are kept")
    rec.add_argument("--record-layers", help="comma-separated layers (default: all)")
    rec.add_argument("--weight-layers", help="comma-separated layers whose weights are kept")
    rec.add_argument("--mesh", type=int, help="2-D models: mesh resolution of the fitted plane")
    rec.add_argument("--extent", help="2-D models: xmin,xmax,ymin,ymax of the plane")
    rec.add_argument("--no-record", action="store_true", help="record nothing (benchmarking)")
    rec.add_argument("--budget-gb", type=float, help="refuse runs larger than this (default 4)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engine.training import resume, train

    if args.resume:
        result = resume(args.resume, quiet=args.quiet)
    else:
        preset = args.preset or DEFAULT_PRESET
        config = apply_overrides(preset_config(preset), args)
        result = train(config, args.run or preset, overwrite=args.overwrite, quiet=args.quiet)
    return 0 if result.status == "finished" else 130


def apply_overrides(config: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    """The preset's configuration with every flag the user gave applied on top."""
    from engine.errors import NnreelError

    for field in (
        "model",
        "dataset",
        "epochs",
        "batch_size",
        "optimizer",
        "lr",
        "momentum",
        "weight_decay",
        "lr_schedule",
        "seed",
        "device",
        "data_root",
        "checkpoint_every",
        "checkpoint_seconds",
        "budget_gb",
    ):
        value = getattr(args, field, None)
        if value is not None:
            setattr(config, field, value)
    if args.dataset and args.dataset != config.dataset:
        config.data_settings = {}
    if args.model and args.model != config.model:
        config.model_settings = {}
    config.download = config.download or args.download
    model, data = config.model_settings, config.data_settings
    if args.width is not None:
        model["width"] = args.width
    if args.hidden:
        model["hidden"] = [int(h) for h in args.hidden.split(",")]
    if args.activation:
        model["activation"] = args.activation
    for key in ("image_size", "train_size", "val_size"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    for item in args.set:
        target, _, rest = item.partition(".")
        key, sep, raw = rest.partition("=")
        if target not in ("model", "data") or not sep or not key:
            raise NnreelError(f"--set {item!r}: write model.KEY=VALUE or data.KEY=VALUE.")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        (model if target == "model" else data)[key] = value
    _apply_recording(config, args)
    return config


def _apply_recording(config: TrainConfig, args: argparse.Namespace) -> None:
    if args.no_record:
        config.record = None
        return
    record = config.record or RecordConfig()
    for flag, field in (
        ("snapshots", "snapshots"),
        ("weights_cadence", "weights"),
        ("stats_cadence", "stats"),
        ("probe_size", "probe_size"),
        ("mesh", "mesh"),
    ):
        if getattr(args, flag) is not None:
            setattr(record, field, getattr(args, flag))
    if args.record_layers:
        record.layers = args.record_layers.split(",")
    if args.weight_layers:
        record.weight_layers = args.weight_layers.split(",")
    if args.extent:
        record.extent = [float(v) for v in args.extent.split(",")]
    config.record = record
