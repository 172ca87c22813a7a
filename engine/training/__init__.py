"""Training with recording: the loop, the recorder, cadences, checkpoints, torchrun support."""

from engine.training.config import RecordConfig, TrainConfig

__all__ = ["RecordConfig", "TrainConfig", "TrainResult", "resume", "train"]
LOOP = ("TrainResult", "resume", "train")
"""Names of the loop, which imports torch: loaded on first use, so that reading the presets
(``nnreel train --help``) does not wait for torch."""


def __getattr__(name: str):
    if name in LOOP:
        from engine.training import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'engine.training' has no attribute {name!r}")
