"""What a recording records, and how often, as plain data stored in the run's manifest."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RecordConfig:
    """Cadences (``every:N``, ``log:N``, ``epoch``, ``once``; see ``engine.recording.schedule``)
    and choices of what to record."""

    snapshots: str = "log:60"
    """Probe activations, probe predictions and (2-D models) the fitted plane."""
    weights: str = "log:40"
    """Weights of the ``weight_layers``. A plain MLP on the plane (linear layers and
    activations) records every layer's parameters at the ``snapshots`` cadence instead: its
    planes are computed from them, and they read back as its ``weights/`` streams."""
    stats: str = "auto"
    """Mean |gradient| and weight norm per layer; ``auto`` gives about 300 points, at most every
    4th step while that leaves 75 (log-spaced when the loop's length is unknown)."""
    flush_every: int = 25
    """Steps between bulk copies of the per-step scalars (loss, accuracy, learning rate) and
    gradient statistics; quick steps are copied less often (at most once a second, when what
    was copied becomes visible to readers)."""
    probe_size: int = 8
    layers: list[str] | None = None
    """Layers whose probe activations are recorded: layer names, graph node names or module
    names; None records every conv, linear and pool output after its activation, and every
    merge of branches."""
    weight_layers: list[str] | None = None
    """Layers whose weights are recorded; None: every layer of an MLP, else the first conv of
    each block and the dense layers."""
    mesh: int = 96
    """2-D models: the fitted function is sampled on a mesh×mesh grid over the plane."""
    extent: list[float] | None = None
    """2-D models: (xmin, xmax, ymin, ymax) of that grid; None takes the dataset's."""
