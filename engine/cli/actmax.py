"""``actmax``: optimise images that make chosen units fire, recorded into the run folder."""

from __future__ import annotations

import argparse

from rich.table import Table

from engine.console import console

SEED_001_CLASSES = "292,309,817"  # tiger, bee, sports car
SHOWN_ROWS = 16
# flag -> RenderSettings field; flags left out keep RenderSettings' defaults (no torch import
# just to build the parser)
SETTINGS_FLAGS = {
    "steps": "steps",
    "lr": "lr",
    "param": "param",
    "seed": "seed",
    "frames": "frames",
}
REGULARIZER_FLAGS = {
    "tv": "total_variation",
    "lp": "lp",
    "decay": "decay",
    "blur_every": "blur_every",
    "blur_sigma": "blur_sigma",
    "clip_percentile": "clip_percentile",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "actmax",
        help="activation maximisation: images that make chosen units fire, recorded in the run",
        description="Optimise one image per unit of a layer, all units in one batch, from noise; "
        "record the images as they grow (log-spaced frames), each unit's activation, the best "
        "image and dead units into the run folder (streams actmax/LAYER/...). Recording a layer "
        "again replaces it.",
        epilog="examples:\n"
        "  python -m engine actmax vgg16-synth                      # the 10 classes\n"
        "  python -m engine actmax vgg16-synth --layer conv3_1 --units all\n"
        "  python -m engine actmax smallcnn-synth --layer conv1 --units 0,1,2 --param pixel\n"
        "  python -m engine actmax --imagenet --units 292,309,817   # tiger, bee, sports car",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "run", nargs="?", help="run name under runs/ or a folder (--imagenet: imagenet-vgg16)"
    )
    parser.add_argument("--layer", help="layer name (default: the output layer, the classes)")
    parser.add_argument(
        "--units", help=f"'all' (default) or numbers like 0,1,2 (--imagenet: {SEED_001_CLASSES})"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, mps")

    how = parser.add_argument_group("optimisation (defaults: engine.actmax.RenderSettings)")
    how.add_argument("--steps", type=int, help="Adam steps (default 256)")
    how.add_argument("--param", help="image parameters: fourier (default) or pixel")
    how.add_argument("--lr", type=float, help="Adam learning rate")
    how.add_argument("--seed", type=int)
    how.add_argument("--frames", type=int, help="about this many log-spaced recorded frames")
    how.add_argument("--batch", type=int, default=64, help="images optimised at once")
    how.add_argument("--candidates", type=int, help="random starts per unit (default: auto)")
    how.add_argument("--no-decorrelate", action="store_true", help="plain colour channels")
    how.add_argument("--no-transforms", action="store_true", help="no jitter/scale/rotate")
    how.add_argument("--no-dataset-max", action="store_true", help="skip the dataset pass")

    reg = parser.add_argument_group("regularisers (all off by default)")
    reg.add_argument("--tv", type=float, help="total-variation weight")
    reg.add_argument("--lp", type=float, help="Lp-norm weight")
    reg.add_argument("--decay", type=float, help="L2 decay per step (e.g. 0.01)")
    reg.add_argument("--blur-every", type=int, metavar="STEPS", help="Gaussian blur cadence")
    reg.add_argument("--blur-sigma", type=float, metavar="PIXELS")
    reg.add_argument("--clip-percentile", type=float, help="reset the weakest pixels")

    net = parser.add_argument_group("pretrained ImageNet VGG-16 (seed 001)")
    net.add_argument("--imagenet", action="store_true", help="use torchvision's VGG-16 at 224 px")
    net.add_argument("--weights", metavar="PATH", help="a copy of vgg16-397923af.pth")
    parser.set_defaults(handler=run)


def settings_from(args: argparse.Namespace):
    """The ``RenderSettings`` the flags ask for (defaults for every flag not given)."""
    from engine.actmax import Regularizers, RenderSettings, Transforms

    given = {f: getattr(args, a) for a, f in SETTINGS_FLAGS.items() if getattr(args, a) is not None}
    regs = {
        f: getattr(args, a) for a, f in REGULARIZER_FLAGS.items() if getattr(args, a) is not None
    }
    return RenderSettings(
        **given,
        decorrelate=not args.no_decorrelate,
        transforms=Transforms() if args.no_transforms else None,
        regularizers=Regularizers(**regs),
    )


def run(args: argparse.Namespace) -> int:
    from engine.actmax.record import imagenet_run, record_actmax
    from engine.errors import NnreelError
    from engine.recording import load_model
    from engine.store import Run
    from engine.training.distributed import pick_device

    settings = settings_from(args)
    if args.imagenet:
        target, model = imagenet_run(args.run or "imagenet-vgg16", args.weights)
        units = args.units or SEED_001_CLASSES
    elif args.run:
        target = Run(args.run)
        model, units = load_model(target), args.units or "all"
    else:
        raise NnreelError("Give a RUN (see `python -m engine info`) or --imagenet.")
    recording = record_actmax(
        target,
        args.layer,
        units,
        settings,
        model=model.to(pick_device(args.device)),
        batch=args.batch,
        candidates=args.candidates,
        dataset_max=not args.no_dataset_max,
        quiet=args.quiet,
    )
    summarise(recording, target)
    return 0


def summarise(rec, target) -> None:
    """A table of the first units and one line with what matters: live units above the data's
    maximum, and which units are dead."""
    table = Table("unit", "label", "activation", "dataset max", "×", "", title=rec.layer)
    final_probs = None if rec.probabilities is None else rec.probabilities[-1]
    for i, unit in enumerate(rec.units[:SHOWN_ROWS]):
        top = rec.dataset_max[i] if rec.dataset_max is not None else None
        note = "[red]dead" if rec.dead[i] else ""
        if final_probs is not None:
            note = f"p(class) {final_probs[i]:.2f}"
        table.add_row(
            str(unit),
            rec.labels[i],
            f"{rec.best_values[i]:.3g}",
            "-" if top is None else f"{top:.3g}",
            "-" if top is None or top <= 0 else f"{rec.best_values[i] / top:.2f}",
            note,
        )
    if len(rec.units) > SHOWN_ROWS:
        table.add_row("…", f"{len(rec.units) - SHOWN_ROWS} more", "", "", "", "")
    console.print(table)
    live = ~rec.dead
    parts = [f"{len(rec.units)} units of {rec.layer} optimised for {int(rec.steps[-1])} steps"]
    above = rec.above_dataset_max
    if above is not None and live.any():
        parts.append(
            f"{int(above[live].sum())} of {int(live.sum())} live units "
            f"({above[live].mean():.0%}) beat their best training image"
        )
    dead = [str(u) for u, d in zip(rec.units, rec.dead, strict=True) if d]
    parts.append(f"dead units: {', '.join(dead)}" if dead else "no dead units")
    console.print("; ".join(parts) + ".")
    console.print(f"Recorded into {target.folder} (streams actmax/{rec.layer}/…).")
