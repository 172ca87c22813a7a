"""Recording overhead: training time per epoch with the default recording against the same
loop recording nothing, measured side by side (interleaved, repeated) in one process.
Target: at most 1.10×.

    python -m bench.recording_bench            # slim VGG-16 preset and the MLP preset
    python -m bench.recording_bench --quick    # smaller data and fewer rounds, for a fast look
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.common import Figure, Took, interleaved, ratio_figure, show, timed, warn_if_busy
from engine.presets import preset_config
from engine.scenekit import names
from engine.training.loop import Trainer

PRESETS = ("vgg16-synth", "mlp-ring")
TARGET = "≤ 1.10"


def epoch_time(preset: str, record: bool, folder: Path, quick: bool) -> Took:
    """Time per epoch of one training into a new folder; loading data and building the model
    stay outside the timing."""
    config = preset_config(preset)
    if quick:
        config.epochs = 1 if preset.startswith("vgg") else 10
        config.data_settings.update(train_size=1536, val_size=256)
    if not record:
        config.record = None
    trainer = Trainer(config, Path(tempfile.mkdtemp(dir=folder)), quiet=True)
    took, _ = timed(lambda: trainer.start(overwrite=True))
    return took / config.epochs


def overhead(preset: str, quick: bool, repeats: int) -> Figure:
    with tempfile.TemporaryDirectory() as tmp:
        took = interleaved(
            {
                "recorded": lambda: epoch_time(preset, True, Path(tmp), quick),
                "plain": lambda: epoch_time(preset, False, Path(tmp), quick),
            },
            repeats,
        )
    return ratio_figure(
        f"recording overhead per epoch, {preset}{', quick' if quick else ''}",
        took["recorded"],
        took["plain"],
        TARGET,
        f"fastest of {repeats}",
    )


def figures(
    quick: bool = False, presets: Sequence[str] = PRESETS, repeats: int | None = None
) -> list[Figure]:
    """One figure per preset; ``repeats`` rounds (3, or 2 when quick) of both trainings."""
    rounds = repeats or (2 if quick else 3)
    return [overhead(preset, quick, rounds) for preset in presets]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", type=names, default=list(PRESETS), help="comma-separated")
    parser.add_argument("--repeats", type=int, help="rounds of both trainings (default 3)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    warn_if_busy()
    show(figures(args.quick, args.presets, args.repeats), judged=not args.quick)


if __name__ == "__main__":
    main()
