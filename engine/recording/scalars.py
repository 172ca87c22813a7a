"""The per-step numbers of a recording (loss, accuracy, learning rate), kept where they are
(on the device) until a flush scores and copies many steps in one go.

A step only appends to lists: a tiny model's step takes half a millisecond, so every
microsecond spent here shows. The logits and targets are kept grouped by batch shape (an
epoch's last, smaller batch has its own group), so that a flush stacks and scores each group
at once and copies everything off the device in one transfer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """The predicted classes: a single logit is positive or not, else the largest."""
    return (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(dim=1)


def as_scalar(value: torch.Tensor | float | None, device: torch.device) -> torch.Tensor:
    """One number as a 0-d tensor, where it already is (no copy off the device)."""
    if isinstance(value, torch.Tensor):
        return value.detach() if value.dim() == 0 else value.detach().reshape(())
    return torch.tensor(math.nan if value is None else float(value), device=device)


class Batches:
    """The logits and targets of the steps of one batch shape, and the steps' places."""

    def __init__(self) -> None:
        self.places: list[int] = []
        self.logits: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def accuracies(self) -> torch.Tensor:
        """One accuracy per step, computed for all of them at once, on their device."""
        logits, targets = torch.stack(self.logits), torch.stack(self.targets)
        right = predictions(logits.flatten(0, 1)).view(targets.shape) == targets.to(logits.device)
        return right.float().mean(1)


class StepScalars:
    """What ``Recorder.step`` keeps until the next flush."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.losses: list[torch.Tensor] = []
        self.lrs: list[float] = []
        self.logits = 0
        """Logits kept (the flush comes before they pass their bound)."""
        self._batches: dict[tuple, Batches] = {}  # by logits shape, targets shape, device
        self._given: list[tuple[int, Any]] = []  # accuracies given as numbers, by place

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
        place = len(self.steps)
        self.steps.append(step)
        self.losses.append(loss)
        self.lrs.append(lr)
        if logits is not None:
            key = (logits.shape, targets.shape, logits.device)
            batches = self._batches.get(key) or self._batches.setdefault(key, Batches())
            batches.places.append(place)
            batches.logits.append(logits.detach())
            batches.targets.append(targets)
            self.logits += logits.numel()
        elif acc is not None:
            self._given.append((place, acc))

    def table(self) -> np.ndarray:
        """(steps, 3) float32: each step's loss, accuracy (NaN when it had none) and learning
        rate, copied off the device in one transfer."""
        losses = torch.stack(self.losses)
        device = losses.device
        places = [batches.places for batches in self._batches.values()]
        parts = [losses.float(), *(b.accuracies() for b in self._batches.values())]
        if self._given:
            given_places, given = zip(*self._given, strict=True)
            places.append(list(given_places))
            parts.append(torch.stack([as_scalar(value, device) for value in given]).float())
        flat = torch.cat([part.to(device) for part in parts]).cpu().numpy()  # the one copy
        table = np.full((len(self), 3), np.nan, np.float32)
        table[:, 0] = flat[: len(self)]
        start = len(self)
        for at in places:
            table[at, 1] = flat[start : start + len(at)]
            start += len(at)
        table[:, 2] = self.lrs
        return table
