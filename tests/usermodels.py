"""A user's own model and training loop, shared by the tests of the recording API and of the
scenes filmed from its runs."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class ResidualCNN(nn.Module):
    """A lecturer's network: BatchNorm, functional ReLUs, one residual block whose ReLU works
    in place on the sum."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(8)
        self.conv_a = nn.Conv2d(8, 8, 3, padding=1)
        self.bn_a = nn.BatchNorm2d(8)
        self.conv_b = nn.Conv2d(8, 8, 3, padding=1)
        self.bn_b = nn.BatchNorm2d(8)
        self.merge = nn.ReLU(inplace=True)
        self.head = nn.Linear(8 * 14 * 14, 10)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        y = self.bn_b(self.conv_b(F.relu(self.bn_a(self.conv_a(x)))))
        x = self.merge(x + y)
        return self.head(torch.flatten(F.max_pool2d(x, 2), 1))

    @torch.no_grad()
    def by_hand(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output computed step by step, in eval mode."""
        stem = F.relu(self.stem_bn(self.stem(x)))
        a = F.relu(self.bn_a(self.conv_a(stem)))
        b = self.bn_b(self.conv_b(a))
        merged = torch.relu(stem + b)
        pooled = F.max_pool2d(merged, 2)
        return {
            "stem": stem,
            "conv_a": a,
            "conv_b": b,
            "add": merged,
            "max_pool2d": pooled,
            "head": self.head(torch.flatten(pooled, 1)),
        }


def plain_loop(model, rec, data, epochs=1, batch=64):
    opt = rec.optimizer
    for _ in range(epochs):
        for x, y in zip(data.x_train.split(batch), data.y_train.split(batch), strict=True):
            logits = model(x / 255)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec.step(loss=loss, logits=logits, targets=y)
        rec.validate()


def recorded_residual_cnn(folder, data):
    """The residual CNN trained one epoch on ``data`` in a plain loop through ``engine.record``
    into ``folder``: the run and the trained model."""
    from engine import record
    from engine.store import Run

    torch.manual_seed(0)
    model = ResidualCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    with record(model, folder, data=data, optimizer=opt, name="residual CNN") as rec:
        plain_loop(model, rec, data)
    return Run(folder), model


def record_steps(
    model: nn.Module, folder: Path, shape: tuple[int, ...], classes: int, config=None
) -> Path:
    """A few SGD steps on random images, every step recorded (or as ``config`` says)."""
    from engine import record
    from engine.recording import RecordConfig

    torch.manual_seed(0)
    x, y = torch.rand(16, *shape), torch.arange(16) % classes
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    config = config or RecordConfig(snapshots="every:1", weights="every:1")
    with record(model, folder, probe=(x[:4], y[:4]), optimizer=opt, config=config) as rec:
        for batch in range(2):
            xb, yb = x[batch * 8 :][:8], y[batch * 8 :][:8]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec.step(loss=loss, logits=logits, targets=yb)
    return folder
