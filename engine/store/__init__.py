"""The run store: a folder per run with a JSON manifest and one .npy file per stream.

It depends on nothing above it (no models, no datasets): building a run's model or loading its
data again lives in ``engine.recording.restore``.
"""

from engine.store import schema
from engine.store.run import (
    CHECKPOINT_FILE,
    DEFAULT_BUDGET_BYTES,
    INIT_FILE,
    MODEL_FILE,
    Run,
    RunWriter,
    human_bytes,
    resolve_run,
    runs_root,
)
from engine.store.schema import Graph, LayerInfo, is_run
from engine.store.streams import StreamInfo

__all__ = [
    "CHECKPOINT_FILE",
    "DEFAULT_BUDGET_BYTES",
    "INIT_FILE",
    "MODEL_FILE",
    "Graph",
    "LayerInfo",
    "Run",
    "RunWriter",
    "StreamInfo",
    "human_bytes",
    "is_run",
    "resolve_run",
    "runs_root",
    "schema",
]
