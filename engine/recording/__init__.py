"""Recording any PyTorch model in any training loop (``record``), the stored model, and what a
run needs to be used again (``load_model``, ``load_run_data``)."""

from engine.recording.config import RecordConfig
from engine.recording.recorder import Recorder, TrainingDiverged, record
from engine.recording.restore import load_model, load_run_data

__all__ = [
    "RecordConfig",
    "Recorder",
    "TrainingDiverged",
    "load_model",
    "load_run_data",
    "record",
]
