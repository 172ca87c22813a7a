"""The per-step numbers of a recording (loss, accuracy, learning rate), kept where they are
(on the device) until a flush scores and copies many steps in one go.

A step only detaches and appends one row: a tiny model's step takes half a millisecond, and
what a step does here runs with cold caches between two training steps, so every microsecond
shows. A flush groups the rows' logits by batch shape, scores each group at once and copies
everything off the device in one transfer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from engine.errors import NnreelError


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """The predicted classes: a single logit is positive or not, else the largest."""
    return (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(dim=1)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities: a softmax, or for a single logit its sigmoid as two classes."""
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits[:, 0])
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


def as_scalar(value: torch.Tensor | float | None, device: torch.device) -> torch.Tensor:
    """One number as a 0-d tensor, where it already is (no copy off the device)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise NnreelError(
                f"A step's loss and accuracy are single numbers, but a tensor of shape "
                f"{tuple(value.shape)} was given: pass the batch's mean (loss.mean())."
            )
        return value.detach().reshape(())
    return torch.tensor(math.nan if value is None else float(value), device=device)


class StepScalars:
    """What ``Recorder.step`` keeps until the next flush: one row per step, as given."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        """Where numbers given as Python floats are put, to be copied off with the rest."""
        self.rows: list[tuple[int, Any, Any, tuple | None, Any]] = []
        """Per step: the step, its loss, its learning rate, its ``(logits, targets)`` to
        score, and its accuracy given as a number (None: not given)."""
        self.logits = 0
        """Logits kept (the flush comes before they pass their bound)."""

    def __len__(self) -> int:
        return len(self.rows)

    def add(
        self,
        step: int,
        loss: torch.Tensor | float | None,
        lr: Any,
        logits: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
        acc: Any = None,
    ) -> None:
        """One step: its loss, and ``logits`` with ``targets`` or ``acc``. Only detaches and
        appends: the step is scored at the flush."""
        scored = None
        if acc is None and logits is not None and targets is not None:
            self.logits += logits.numel()
            scored = (logits.detach(), targets)
        if isinstance(loss, torch.Tensor):
            loss = loss.detach() if not loss.dim() else as_scalar(loss, self.device)
        self.rows.append((step, loss, lr, scored, acc))

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """The steps, and (steps, 3) float32: each step's loss, accuracy (NaN when it had
        none) and learning rate, copied off the device in one transfer. The steps with logits
        are scored per batch shape (an epoch's last, smaller batch is its own group), each
        group at once."""
        steps, losses, lrs, to_score, accs = zip(*self.rows, strict=True)
        groups: dict[tuple, tuple[list[int], list[torch.Tensor], list[torch.Tensor]]] = {}
        given_at: list[int] = []
        given: list[torch.Tensor] = []
        for place, (scored, acc) in enumerate(zip(to_score, accs, strict=True)):
            if scored is not None:
                logits, targets = scored
                group = groups.setdefault(
                    (logits.shape, targets.shape, logits.device), ([], [], [])
                )
                group[0].append(place)
                group[1].append(logits)
                group[2].append(targets)
            elif acc is not None:
                given_at.append(place)
                given.append(as_scalar(acc, self.device))
        kept = [loss if _kept(loss) else as_scalar(loss, self.device) for loss in losses]
        parts = [torch.stack(kept).float()]
        places = []
        for at, logits, targets in groups.values():
            parts.append(accuracies(torch.stack(logits), torch.stack(targets)))
            places.append(at)
        if given:
            parts.append(torch.stack(given).float())
            places.append(given_at)
        flat = torch.cat([part.to(self.device) for part in parts]).cpu().numpy()  # the one copy
        table = np.full((len(steps), 3), np.nan, np.float32)
        table[:, 0] = flat[: len(steps)]
        start = len(steps)
        for at in places:
            table[at, 1] = flat[start : start + len(at)]
            start += len(at)
        table[:, 2] = [float(lr) for lr in lrs]
        return np.array(steps), table


def _kept(loss: Any) -> bool:
    """Whether ``add`` kept ``loss`` as the 0-d tensor the flush stacks (its detached loss)."""
    return isinstance(loss, torch.Tensor) and not loss.dim()


def accuracies(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """One accuracy per step from stacked (steps, batch, classes) logits and their targets,
    on the logits' device."""
    right = predictions(logits.flatten(0, 1)).view(targets.shape) == targets.to(logits.device)
    return right.float().mean(1)
