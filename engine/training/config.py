"""Everything a training run needs, as plain data that is stored in the run's manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from engine.recording.config import RecordConfig


@dataclass
class TrainConfig:
    model: str
    dataset: str
    model_settings: dict[str, Any] = field(default_factory=dict)
    data_settings: dict[str, Any] = field(default_factory=dict)
    epochs: int = 3
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    seed: int = 0
    device: str = "auto"
    data_root: str = "data"
    download: bool = False
    checkpoint_every: int = 200
    checkpoint_seconds: float = 10.0
    """At least this long between two checkpoints, so that quick steps do not spend their time
    saving (a tiny model takes 1,000 steps in half a second); an epoch's end checkpoints once
    this long has passed. 0 checkpoints every ``checkpoint_every`` steps and at every epoch's
    end (one that has none at its step). A Ctrl-C checkpoints where it stops, whatever this
    says."""
    budget_gb: float = 4.0
    init_weights: str | None = None
    """A state-dict file (e.g. a parent run's model.pt) to start from instead of a fresh init."""
    keep_zeros: bool = False
    """Keep weights that start at exactly zero at zero (fine-tuning a pruned network)."""
    parent: dict[str, Any] | None = None
    """Where this run comes from when it derives from another (``{"run": …, "pruning": …}``),
    written to the manifest."""
    record: RecordConfig | None = field(default_factory=RecordConfig)
    """None trains without recording anything but the final weights (benchmarks use it)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("record") is not None:
            values["record"] = RecordConfig(**values["record"])
        return cls(**values)
