"""The per-step numbers of a recording (loss, accuracy, learning rate), kept where they are
(on the device) until a flush scores and copies many steps in one go.

A step only appends to lists: a tiny model's step takes half a millisecond, so every
microsecond spent here shows. A flush stacks the logits and targets of all its steps at once
(per batch shape: an epoch's last, smaller batch is stacked on its own) and scores them in one
go.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """The predicted classes: a single logit is positive or not, else the largest."""
    return (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(dim=1)


def as_scalar(value: torch.Tensor | float | None, device: torch.device) -> torch.Tensor:
    """One number as a 0-d tensor, where it already is (no copy off the device)."""
    if isinstance(value, torch.Tensor):
        return value.detach() if value.dim() == 0 else value.detach().reshape(())
    return torch.tensor(math.nan if value is None else float(value), device=device)


class StepScalars:
    """What ``Recorder.step`` keeps until the next flush."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.losses: list[torch.Tensor] = []
        self.lrs: list[float] = []
        self.logits = 0
        """Logits kept (the flush comes before they pass their bound)."""
        self._scored: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # index, logits, targets
        self._given: list[tuple[int, Any]] = []  # accuracies given as numbers, by index

    def __len__(self) -> int:
        return len(self.steps)

    def add(
        self,
        step: int,
        loss: torch.Tensor,
        lr: float,
        logits: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
        acc: Any = None,
    ) -> None:
        """One step: its loss (a 0-d tensor), and ``logits`` with ``targets`` or ``acc``."""
        index = len(self.steps)
        self.steps.append(step)
        self.losses.append(loss)
        self.lrs.append(lr)
        if logits is not None:
            self._scored.append((index, logits.detach(), targets))
            self.logits += logits.numel()
        elif acc is not None:
            self._given.append((index, acc))

    def accuracies(self, losses: torch.Tensor) -> torch.Tensor:
        """One accuracy per step, beside ``losses``: scored, as given, or NaN."""
        scores = torch.full((len(self),), math.nan, dtype=losses.dtype, device=losses.device)
        for index, value in self._given:
            scores[index] = as_scalar(value, losses.device)
        for indices, logits, targets in _by_shape(self._scored):
            right = predictions(logits.flatten(0, 1)).view(targets.shape) == targets.to(
                logits.device
            )
            scores[indices] = right.float().mean(1).to(scores.device, scores.dtype)
        return scores


def _by_shape(scored: list[tuple[int, torch.Tensor, torch.Tensor]]):
    """The steps' logits and targets stacked, one stack per batch shape and device (an
    epoch's last, smaller batch has its own)."""
    shapes = [(logits.shape, targets.shape, logits.device) for _, logits, targets in scored]
    groups: dict[tuple, list[int]] = {}
    if shapes and shapes.count(shapes[0]) == len(shapes):
        groups[shapes[0]] = list(range(len(scored)))
    else:
        for position, shape in enumerate(shapes):
            groups.setdefault(shape, []).append(position)
    for members in groups.values():
        indices, logits, targets = zip(*(scored[m] for m in members), strict=True)
        yield list(indices), torch.stack(logits), torch.stack(targets)
