"""Recording overhead: training time per epoch with the default recording against the same
loop recording nothing, measured side by side (interleaved, repeated) in one process.

    python -m bench.recording_bench            # slim VGG-16 preset and the MLP preset
    python -m bench.recording_bench --quick    # smaller data, for a fast look
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from engine.console import console
from engine.presets import preset_config
from engine.training.loop import Trainer


def time_per_epoch(preset: str, record: bool, folder: Path, quick: bool) -> float:
    config = preset_config(preset)
    if quick:
        config.epochs = 1 if preset.startswith("vgg") else 10
        config.data_settings.update(train_size=1536, val_size=256)
    if not record:
        config.record = None
    trainer = Trainer(config, folder, quiet=True)
    start = time.perf_counter()
    trainer.start(overwrite=True)
    return (time.perf_counter() - start) / config.epochs


def measure(preset: str, repeats: int, quick: bool) -> tuple[float, float]:
    """Median seconds per epoch with and without recording, alternating the order."""
    with_rec, without = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            order = (True, False) if i % 2 == 0 else (False, True)
            for record in order:
                seconds = time_per_epoch(preset, record, Path(tmp) / f"r{i}{record}", quick)
                (with_rec if record else without).append(seconds)
    return statistics.median(with_rec), statistics.median(without)


def run(presets: list[str], repeats: int, quick: bool) -> list[dict]:
    rows = []
    for preset in presets:
        recorded, plain = measure(preset, repeats, quick)
        rows.append(
            {
                "figure": f"recording overhead, {preset}",
                "ratio": recorded / plain,
                "detail": f"{recorded:.2f} s/epoch recorded vs {plain:.2f} s/epoch plain",
                "target": "≤ 1.10",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="vgg16-synth,mlp-ring")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for row in run(args.presets.split(","), args.repeats, args.quick):
        console.print(f"{row['figure']}: [bold]{row['ratio']:.3f}×[/] ({row['detail']})")


if __name__ == "__main__":
    main()
