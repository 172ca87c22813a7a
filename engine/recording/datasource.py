"""Whatever data a user hands the recorder, as one description: its name, classes, kind, the
held-out examples that validate and give the probe, and how its inputs were normalised.

Accepted: nnreel's own ``Data`` bundle (reloadable from the run by name), a torch ``Dataset``
or ``DataLoader`` (torchvision's ``ImageFolder``, ``MNIST``, …: the classes, and a
``transforms.Normalize`` in its transform, are read from it), or tensors ``(x, y)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from engine.errors import NnreelError

PROBE_SCAN = 2048
"""Examples of a ``Dataset`` looked at to find one probe image of each class."""
EVAL_BATCH = 512


@dataclass
class Split:
    """Examples as stored (``x``) with their labels; ``to_model`` makes model inputs of them."""

    x: torch.Tensor
    y: torch.Tensor


@dataclass
class DataSource:
    """A dataset as the recorder sees it."""

    name: str
    kind: str
    """``image`` (N×C×H×W), ``plane`` (2-D points) or ``vector``."""
    classes: list[str]
    val: Split | None = None
    train: Split | None = None
    batches: Any = None
    """A ``DataLoader`` or ``Dataset`` to validate on, when there are no tensors."""
    params: dict[str, Any] | None = None
    """How ``engine.data.load_data`` builds it again (nnreel's own datasets only)."""
    normalize: dict[str, list[float]] | None = None
    extent: list[float] | None = None
    stats: tuple[list[float], list[float]] | None = None
    """Per-channel mean and std of the inputs in [0, 1] (activation maximisation's colours)."""
    uint8: bool = False
    """Inputs stored as uint8 pixels (nnreel's datasets): the model sees them divided by 255."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / 255 if self.uint8 else x.float()

    def batches_of(self, data: Any = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of model inputs and labels: of ``data`` when given, else the held-out split."""
        source = describe_data(data) if data is not None else self
        if source.val is not None:
            x, y = source.val.x, source.val.y
            for start in range(0, len(y), EVAL_BATCH):
                yield source.to_model(x[start : start + EVAL_BATCH]), y[start : start + EVAL_BATCH]
            return
        if source.batches is None:
            raise NnreelError(
                "validate() needs data: pass data= to record(), or validate(data), or the "
                "numbers themselves: validate(loss=…, acc=…)."
            )
        loader = source.batches
        if isinstance(loader, Dataset):
            loader = DataLoader(loader, batch_size=EVAL_BATCH // 2)
        for x, y, *_ in loader:
            yield x.float(), torch.as_tensor(y)


def describe_data(
    data: Any, *, classes: Sequence[str] | None = None, name: str | None = None
) -> DataSource:
    """``data`` (see the module's docstring) as a ``DataSource``."""
    from engine.data import Data

    if isinstance(data, DataSource):
        return data
    if isinstance(data, Data):
        return _from_bundle(data)
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = data
        return _from_tensors(x, torch.as_tensor(y), classes, name)
    if isinstance(data, (DataLoader, Dataset)):
        return _from_dataset(data, classes, name)
    raise NnreelError(
        f"record(data=…) takes an nnreel Data, a torch Dataset or DataLoader, or tensors "
        f"(x, y); got {type(data).__name__}."
    )


def _from_bundle(data) -> DataSource:
    kind = data.kind if data.kind != "plane" or data.input_shape == (2,) else "vector"
    return DataSource(
        name=data.name,
        kind=kind,
        classes=list(data.classes),
        val=Split(data.x_val, data.y_val),
        train=Split(data.x_train, data.y_train),
        params=dict(data.params),
        extent=list(data.extent) if data.extent else None,
        stats=data.channel_stats(),
        uint8=data.kind == "image",
    )


def _from_tensors(
    x: torch.Tensor, y: torch.Tensor, classes: Sequence[str] | None, name: str | None
) -> DataSource:
    kind = "image" if x.dim() == 4 else "plane" if x.shape[1:] == (2,) else "vector"
    count = int(y.max()) + 1 if len(y) else 0
    return DataSource(
        name=name or "tensors",
        kind=kind,
        classes=list(classes) if classes else [str(i) for i in range(count)],
        val=Split(x.detach().cpu(), y.detach().cpu().long()),
        uint8=x.dtype == torch.uint8,
    )


def _from_dataset(data: DataLoader | Dataset, classes, name) -> DataSource:
    dataset = data.dataset if isinstance(data, DataLoader) else data
    found = list(getattr(dataset, "classes", None) or classes or [])
    first = dataset[0]
    x0 = first[0] if isinstance(first, (tuple, list)) else first
    if not isinstance(x0, torch.Tensor):
        raise NnreelError(
            f"{type(dataset).__name__} returns {type(x0).__name__} examples; give it a "
            "transform that makes tensors (e.g. transforms.ToTensor())."
        )
    kind = "image" if x0.dim() == 3 else "plane" if x0.shape == (2,) else "vector"
    return DataSource(
        name=name or _dataset_name(dataset),
        kind=kind,
        classes=[str(c) for c in found],
        batches=data,
        normalize=find_normalize(dataset),
    )


def _dataset_name(dataset: Dataset) -> str:
    root = getattr(dataset, "root", None)
    kind = type(dataset).__name__
    if kind == "ImageFolder" and root:
        from pathlib import Path

        return Path(str(root)).name
    return kind


def find_normalize(dataset: Dataset) -> dict[str, list[float]] | None:
    """The ``transforms.Normalize`` inside a torchvision dataset's transform, if any."""
    transform = getattr(dataset, "transform", None)
    steps = getattr(transform, "transforms", [transform])
    for step in steps:
        if type(step).__name__ == "Normalize" and hasattr(step, "mean"):
            return {"mean": _floats(step.mean), "std": _floats(step.std)}
    return None


def _floats(values) -> list[float]:
    if isinstance(values, torch.Tensor):
        values = values.flatten().tolist()
    return [float(v) for v in values]


def pick_probe(source: DataSource, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` held-out examples, classes in turn (the first of class 0, of class 1, …), so
    every class is shown and the choice never changes between runs."""
    if source.val is not None:
        x, y = source.val.x, source.val.y
    elif source.batches is not None:
        dataset = getattr(source.batches, "dataset", source.batches)
        items = [dataset[i] for i in islice(range(len(dataset)), PROBE_SCAN)]
        x = torch.stack([item[0] for item in items])
        y = torch.as_tensor([int(item[1]) for item in items])
    else:
        raise NnreelError("No data to pick a probe from: pass probe=(inputs, labels).")
    chosen = _classes_in_turn(y, max(len(source.classes), int(y.max()) + 1), size)
    return x[chosen], y[chosen]


def _classes_in_turn(labels: torch.Tensor, classes: int, size: int) -> torch.Tensor:
    per_class = [(labels == c).nonzero().flatten().tolist() for c in range(classes)]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < min(size, len(labels)):
        before = len(chosen)
        for indices in per_class:
            if depth < len(indices) and len(chosen) < size:
                chosen.append(indices[depth])
        if len(chosen) == before:
            break
        depth += 1
    return torch.tensor(chosen, dtype=torch.long)
