"""The optimisation loop: Adam on a batch of images, one objective term per image, recording
the images and each unit's activation on a log-spaced schedule, keeping each image's best."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from engine.actmax.objectives import (
    Activations,
    ClassLogit,
    Objective,
    forward_to,
    frozen,
    layer_shapes,
)
from engine.actmax.param import ColourStats, ImageParam, make_param, neutral_stats
from engine.actmax.regularizers import Regularizers
from engine.actmax.transforms import Transforms, random_affine
from engine.console import progress_bar
from engine.errors import NnreelError
from engine.models import Net
from engine.recording.schedule import log_spaced


@dataclass(frozen=True)
class RenderSettings:
    """How one optimisation runs. The defaults were tuned on the slim digit runs (28 and 32 px)
    against each unit's best training image; they serve the 224-px ImageNet net as well."""

    steps: int = 256
    lr: float = 0.1
    param: str = "fourier"
    """``fourier`` (1/f-scaled spectrum) or ``pixel``."""
    spectrum_decay: float = 1.0
    """Fourier images: each frequency f is scaled by 1/f^decay (0 would be white noise)."""
    decorrelate: bool = True
    """Mix colours through the square root of the training data's channel covariance."""
    init_sd: float = 1.0
    """Spread of the starting noise (pre-sigmoid units). Visible noise, unlike Lucid's 0.01:
    a near-uniform start leaves many small-net units silent, with no gradient to grow from."""
    transforms: Transforms | None = None
    """None: Lucid's amounts scaled to the input size; ``Transforms()``: none at all."""
    regularizers: Regularizers = field(default_factory=Regularizers)
    frames: int = 60
    """About this many log-spaced recorded steps (dense early, where the image changes most)."""
    redirect_steps: int = 32
    """For this many first steps, a ReLU that passes no gradient for an image lets through the
    gradient that would raise its input (Lucid's redirected ReLU): units silent on the starting
    noise get going instead of being mistaken for dead."""
    check_every: int = 8
    """Steps between evaluations of the untransformed images, to keep each one's best."""
    seed: int = 0
    dead_tolerance: float = 1e-6
    """A unit whose |activation| never exceeds this on any step is reported dead."""

    def __post_init__(self) -> None:
        for name in ("steps", "frames", "check_every"):
            if getattr(self, name) < 1:
                raise NnreelError(f"Activation maximisation: {name} must be at least 1.")
        if not self.lr > 0 or self.init_sd < 0:
            raise NnreelError("Activation maximisation: lr must be positive, init_sd >= 0.")

    def resolved(self, size: int) -> RenderSettings:
        if self.transforms is None:
            return replace(self, transforms=Transforms.for_size(size))
        return self

    def to_json(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k not in ("transforms", "regularizers")}
        data["transforms"] = self.transforms.to_json() if self.transforms else None
        data["regularizers"] = self.regularizers.to_json()
        return data


@dataclass
class RenderResult:
    """Everything one optimisation produced; images are uint8 [0, 255] like the datasets."""

    steps: np.ndarray
    """[F] the recorded steps (0 is the starting noise, t is after t updates)."""
    frames: np.ndarray
    """[F, B, C, H, W] the untransformed images at those steps."""
    values: np.ndarray
    """[F, B] each image's measured activation, on exactly the stored (uint8) image."""
    probabilities: np.ndarray | None
    """[F, B] for class logits: the model's probability that image i is its class."""
    best: np.ndarray
    """[B, C, H, W] each image at the checked step where its activation was highest."""
    best_values: np.ndarray
    best_steps: np.ndarray
    dead: np.ndarray
    """[B] True where the unit's activation stayed within ``dead_tolerance`` of 0 on every
    step, even with redirected gradients: a dead unit, whose image means nothing."""
    seconds: float


class _RedirectedReLU(torch.autograd.Function):
    """ReLU whose backward, for an image that gets no gradient through it at all, passes the
    part of the gradient that would raise negative inputs (so a silent unit can start)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        active = x > 0
        passed = torch.where(active, grad, 0.0)
        silent = ~passed.flatten(1).any(dim=1)
        if silent.any():  # grad < 0: the loss falls as x rises
            raising = torch.where(active[silent] | (grad[silent] < 0), grad[silent], 0.0)
            passed[silent] = raising
        return passed


class RedirectedReLU(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RedirectedReLU.apply(x)


@contextmanager
def redirected_relus(model: torch.nn.Module) -> Iterator[None]:
    """Every ``nn.ReLU`` of ``model`` swapped for ``RedirectedReLU`` for the duration (forward
    passes inside record it; their backward may run later). Always restored."""
    swapped = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.ReLU
    ]
    try:
        for parent, name, _ in swapped:
            setattr(parent, name, RedirectedReLU())
        yield
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


class Optimisation:
    """The state of one batched optimisation: parameters, Adam, random generator.

    Use inside ``frozen(model)``. ``step()`` is one update; ``evaluate()`` scores the current
    images without transforms, as they will be stored (quantised to uint8).
    """

    def __init__(
        self,
        model: Net,
        objective: Objective,
        batch: int,
        settings: RenderSettings,
        *,
        measure: Objective | None = None,
        colour: ColourStats | None = None,
    ):
        if len(model.input_shape) != 3:
            raise NnreelError(
                f"Activation maximisation needs an image model; this {model.arch} takes inputs "
                f"of shape {list(model.input_shape)}."
            )
        self.model = model
        self.settings = settings = settings.resolved(min(model.input_shape[1:]))
        self.measure = measure or objective
        penalty = settings.regularizers.penalty()
        self.objective = objective if penalty is None else objective - penalty
        self.layers = self.objective.layers | self.measure.layers
        shapes = layer_shapes(model, self.layers)
        self.objective.check(shapes, batch)
        self.measure.check(shapes, batch)
        device = next(model.parameters()).device
        colour = colour or neutral_stats(model.input_shape[0])
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.param: ImageParam = make_param(
            settings.param,
            batch,
            model.input_shape,
            colour,
            decorrelate=settings.decorrelate,
            sd=settings.init_sd,
            decay=settings.spectrum_decay,
            generator=self.generator,
        ).to(device)
        self.fill = torch.tensor(colour.mean, device=device)
        self.optimizer = torch.optim.Adam(self.param.parameters(), lr=settings.lr)
        self.step_count = 0

    def step(self) -> torch.Tensor:
        """One Adam update of every image; returns the measured activations it saw [B]."""
        images = self.param()
        seen = random_affine(images, self.settings.transforms, self.fill, self.generator)
        early = self.step_count < self.settings.redirect_steps
        with redirected_relus(self.model) if early else nullcontext():
            acts = forward_to(self.model, seen, self.layers)
        score = self.objective(acts)
        self.optimizer.zero_grad(set_to_none=True)
        (-score.sum()).backward()
        self.optimizer.step()
        self.step_count += 1
        self.settings.regularizers.apply(self.param, self.step_count)
        return (score if self.measure is self.objective else self.measure(acts)).detach()

    @torch.no_grad()
    def evaluate(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The images as uint8, their activation, and (class logits) their class probability."""
        images = (self.param() * 255).round().to(torch.uint8)
        acts = forward_to(self.model, images.float() / 255, self.measure.layers)
        return images, self.measure(acts), self._probabilities(acts)

    def _probabilities(self, acts: Activations) -> torch.Tensor | None:
        if not isinstance(self.measure, ClassLogit):
            return None
        probs = self.model.probabilities(acts[self.measure.layer])
        rows = torch.arange(len(probs), device=probs.device)
        if self.model.binary:  # the single logit is class 1's score
            return probs[:, 1]
        return probs[rows, self.measure.unit_index(len(probs), probs.device)]


def render(
    model: Net,
    objective: Objective,
    batch: int,
    settings: RenderSettings | None = None,
    *,
    measure: Objective | None = None,
    colour: ColourStats | None = None,
    description: str = "actmax",
    quiet: bool = False,
) -> RenderResult:
    """Optimise ``batch`` images for ``objective`` and record how they grow.

    ``measure`` (default: the objective) is what is recorded per image, e.g. the bare unit
    activation when the objective also carries penalties. ``colour`` gives the data's colour
    statistics (mean colour, decorrelation); without it, mid-grey and uncorrelated channels.
    """
    settings = settings or RenderSettings()
    start = time.perf_counter()
    with frozen(model):
        opt = Optimisation(model, objective, batch, settings, measure=measure, colour=colour)
        recorder = _Recorder(opt, settings)
        bar = progress_bar("activation")
        bar.disable = quiet
        with bar:
            task = bar.add_task(description, total=settings.steps, activation="-")
            for step in range(settings.steps + 1):
                if step in recorder.checks:
                    mean = recorder.check(step)
                    bar.update(task, activation=f"{mean:.3g}")
                if step == settings.steps:
                    break
                recorder.saw(opt.step())
                bar.update(task, completed=step + 1)
    return recorder.result(time.perf_counter() - start)


class _Recorder:
    """Frames, values, best images and peaks of one optimisation, kept on the model's device
    and copied to the CPU once at the end."""

    def __init__(self, opt: Optimisation, settings: RenderSettings):
        self.opt = opt
        self.steps = log_spaced(settings.frames, settings.steps)
        self.checks = set(self.steps.tolist()) | set(
            range(0, settings.steps + 1, settings.check_every)
        )
        self.checks.add(settings.steps)
        self.frame_index = {int(s): i for i, s in enumerate(self.steps)}
        images, values, probs = opt.evaluate()
        count = len(self.steps)
        self.frames = images.new_zeros((count, *images.shape))
        self.values = values.new_zeros((count, len(values)))
        self.probs = None if probs is None else probs.new_zeros((count, len(probs)))
        self.best = images.clone()
        self.best_values = torch.full_like(values, -torch.inf)
        self.best_steps = torch.zeros(len(values), dtype=torch.long, device=values.device)
        self.peak = torch.zeros_like(values)
        self.tolerance = settings.dead_tolerance

    def check(self, step: int) -> float:
        images, values, probs = self.opt.evaluate()
        self.saw(values)
        better = values > self.best_values
        self.best[better] = images[better]
        self.best_values = torch.where(better, values, self.best_values)
        self.best_steps[better] = step
        if step in self.frame_index:
            i = self.frame_index[step]
            self.frames[i], self.values[i] = images, values
            if probs is not None:
                self.probs[i] = probs
        return float(values.mean())

    def saw(self, values: torch.Tensor) -> None:
        self.peak = torch.maximum(self.peak, values.abs())

    def result(self, seconds: float) -> RenderResult:
        return RenderResult(
            steps=self.steps,
            frames=self.frames.cpu().numpy(),
            values=self.values.float().cpu().numpy(),
            probabilities=None if self.probs is None else self.probs.float().cpu().numpy(),
            best=self.best.cpu().numpy(),
            best_values=self.best_values.float().cpu().numpy(),
            best_steps=self.best_steps.cpu().numpy(),
            dead=(self.peak <= self.tolerance).cpu().numpy(),
            seconds=seconds,
        )
