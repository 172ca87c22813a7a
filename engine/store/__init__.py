"""The run store: a folder per run with a JSON manifest and one memory-mapped .npy per stream."""

from engine.store.run import (
    CHECKPOINT_FILE,
    DEFAULT_BUDGET_BYTES,
    INIT_FILE,
    MODEL_FILE,
    LayerInfo,
    Run,
    RunWriter,
    human_bytes,
    resolve_run,
    runs_root,
)
from engine.store.streams import StreamInfo

__all__ = [
    "CHECKPOINT_FILE",
    "DEFAULT_BUDGET_BYTES",
    "INIT_FILE",
    "MODEL_FILE",
    "LayerInfo",
    "Run",
    "RunWriter",
    "StreamInfo",
    "human_bytes",
    "resolve_run",
    "runs_root",
]
