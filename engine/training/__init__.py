"""Training with recording: the loop, the recorder, cadences, checkpoints, torchrun support."""

from engine.training.config import RecordConfig, TrainConfig
from engine.training.loop import TrainResult, resume, train

__all__ = ["RecordConfig", "TrainConfig", "TrainResult", "resume", "train"]
