"""Recording overhead: training time per epoch with the default recording against the same
loop recording nothing, measured side by side (interleaved, repeated) in one process.

Two kinds of figure: nnreel's presets trained by its own trainer (targets: vgg16-synth at most
1.05×, mlp-ring at most 1.10×), and a plain PyTorch loop of a user's model with
``engine.record`` added against the same loop without it (target: at most 1.05×), for
torchvision's ResNet-18 at 32×32 and the slim VGG-16. The two user loops run in lockstep, a
step of each in turn, each with its own random numbers, so they train alike.

    python -m bench.recording_bench            # presets and user loops
    python -m bench.recording_bench --quick    # smaller data and fewer rounds, for a fast look
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import torch
import torch.nn.functional as F

from bench.common import (
    Figure,
    Took,
    before_timing,
    fastest,
    ratio_figure,
    repeated_note,
    rounds,
    show,
    timed,
)
from engine.data import Data, load_data
from engine.presets import preset_config
from engine.scenekit import names
from engine.training.loop import Trainer

T = TypeVar("T")

PRESETS = ("vgg16-synth", "mlp-ring")
PRESET_TARGETS = {"vgg16-synth": "≤ 1.05", "mlp-ring": "≤ 1.10"}
USER_MODELS = ("resnet18", "vgg16-slim")
USER_TARGET = "≤ 1.05"
BATCH = 64
USER_EPOCH = 10240
"""Images per epoch of the user loops: 160 steps, so that what a run records once (its first
snapshots are dense) is not all charged to a toy epoch; a real one is longer still."""


def epoch_time(preset: str, record: bool, folder: Path, quick: bool) -> Took:
    """Time per epoch of one training into a new folder; loading data and building the model
    stay outside the timing."""
    config = preset_config(preset)
    if quick:
        config.epochs = 1 if preset.startswith("vgg") else 10
        config.data_settings.update(train_size=1536, val_size=256)
    if not record:
        config.record = None
    trainer = Trainer(config, Path(tempfile.mkdtemp(dir=folder)), quiet=True)
    took, _ = timed(lambda: trainer.start(overwrite=True))
    return took / config.epochs


def overhead(
    title: str,
    epoch: Callable[[bool, Path], Took],
    target: str,
    repeats: int,
    aside: Callable[[], str] | None = None,
) -> Figure:
    """``epoch(recorded, folder)`` with recording and without, interleaved, as one figure;
    ``aside()``, called after the rounds, adds to its detail."""
    with tempfile.TemporaryDirectory() as tmp:
        took = rounds(
            {
                "recorded": lambda: epoch(True, Path(tmp)),
                "plain": lambda: epoch(False, Path(tmp)),
            },
            repeats,
        )
    recorded, plain = took["recorded"], took["plain"]
    note = "; ".join(part for part in (repeated_note(recorded, plain), aside and aside()) if part)
    return ratio_figure(title, fastest(recorded), fastest(plain), target, note)


def preset_overhead(preset: str, quick: bool, repeats: int) -> Figure:
    return overhead(
        f"recording overhead per epoch, {preset}{', quick' if quick else ''}",
        lambda recorded, folder: epoch_time(preset, recorded, folder, quick),
        PRESET_TARGETS.get(preset, "≤ 1.10"),
        repeats,
    )


# -- a user's own loop ------------------------------------------------------------------------
def user_model(name: str) -> tuple[torch.nn.Module, int]:
    """The model and its input channels: torchvision's ResNet-18 as a user builds it, or the
    slim VGG-16 of nnreel's default run."""
    torch.manual_seed(0)
    if name == "resnet18":
        import torchvision

        return torchvision.models.resnet18(weights=None, num_classes=10), 3
    from engine.models import get_model

    return get_model("vgg16", width=0.25, in_channels=1, image_size=32), 1


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: Data) -> tuple[float, float]:
    """What the user's loop does at each epoch's end, recorded or not."""
    model.eval()
    logits = torch.cat([model(x / 255) for x in data.x_val.split(256)])
    model.train()
    loss = float(F.cross_entropy(logits, data.y_val))
    return loss, float((logits.argmax(1) == data.y_val).float().mean())


class UserLoop:
    """One side of a lockstep pair: a user's model and optimiser, and (recorded) ``engine.record``
    on it. Every call through ``timed`` adds to ``took``, the recorder's also to ``spent``."""

    def __init__(self, model: torch.nn.Module, data: Data, epochs: int, run: Path | None):
        from engine import record

        self.model, self.data = model, data
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.took = self.spent = Took(0.0, 0.0)
        self.random = torch.Generator().manual_seed(0).get_state()
        """This loop's own random numbers (dropout): the two take turns, not draws."""
        self.recorder = None
        if run is not None:
            steps = len(data.x_train) // BATCH
            options = {"data": data, "optimizer": self.optimizer, "epochs": epochs}
            self.recorder = record(model, run, steps_per_epoch=steps, **options)

    def timed(self, work: Callable[[], T], recorder: bool = False) -> T:
        torch.set_rng_state(self.random)
        took, result = timed(work)
        self.random = torch.get_rng_state()
        self.took += took
        if recorder:
            self.spent += took
        return result

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        def train() -> tuple[torch.Tensor, torch.Tensor]:
            logits = self.model(x / 255)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            return loss, logits

        loss, logits = self.timed(train)
        if self.recorder:
            self.timed(lambda: self.recorder.step(loss=loss, logits=logits, targets=y), True)

    def epoch_end(self) -> None:
        loss, acc = self.timed(lambda: evaluate(self.model, self.data))
        if self.recorder:
            self.timed(lambda: self.recorder.validate(loss=loss, acc=acc), True)

    def finish(self) -> None:
        if self.recorder:
            self.timed(self.recorder.close, True)


def lockstep(name: str, folder: Path, quick: bool) -> tuple[UserLoop, UserLoop]:
    """The user's loop with ``engine.record`` and without, on the same batches, a step of each
    in turn (which goes first swaps every step). Over the minutes a loop takes, these hosts
    drift by 10 % and more: loops run one after the other compare the moments they ran in,
    neighbouring steps share theirs. Returns the recorded loop and the plain one."""
    (model, channels), (twin, _) = user_model(name), user_model(name)
    size, epochs = (512, 1) if quick else (USER_EPOCH, 2)
    data = load_data("digits", image_size=32, channels=channels, train_size=size, val_size=256)
    run = Path(tempfile.mkdtemp(dir=folder)) / name
    recorded, plain = UserLoop(model, data, epochs, run), UserLoop(twin, data, epochs, None)
    for _ in range(epochs):
        batches = zip(data.x_train.split(BATCH), data.y_train.split(BATCH), strict=True)
        for i, (x, y) in enumerate(batches):
            for loop in (plain, recorded) if i % 2 == 0 else (recorded, plain):
                loop.step(x, y)
        for loop in (plain, recorded):
            loop.epoch_end()
    recorded.finish()
    return recorded, plain


def own_share(shares: list[float]) -> str:
    """The recorder's calls' share of the recorded loops' time, whose rest is the same
    training steps as the plain loop's."""
    return f"in the recorder's calls {statistics.median(shares):.1%} of the loop (median)"


def user_overhead(name: str, quick: bool, repeats: int) -> Figure:
    epochs = 1 if quick else 2
    recorded: list[Took] = []
    plain: list[Took] = []
    shares: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(max(1, repeats)):
            ours, base = lockstep(name, Path(tmp), quick)
            recorded.append(ours.took / epochs)
            plain.append(base.took / epochs)
            shares.append(ours.spent.wall / ours.took.wall)
    note = "; ".join(
        part
        for part in ("steps in lockstep", repeated_note(recorded, plain), own_share(shares))
        if part
    )
    title = f"engine.record in a user loop, per epoch, {name} 32×32{', quick' if quick else ''}"
    return ratio_figure(title, fastest(recorded), fastest(plain), USER_TARGET, note)


def figures(
    quick: bool = False,
    presets: Sequence[str] = PRESETS,
    repeats: int | None = None,
    models: Sequence[str] = USER_MODELS,
) -> list[Figure]:
    """One figure per preset and per user model; ``repeats`` rounds (3, or 2 when quick)."""
    rounds = repeats or (2 if quick else 3)
    found = [preset_overhead(preset, quick, rounds) for preset in presets]
    return found + [user_overhead(name, quick, rounds) for name in models]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", type=names, default=list(PRESETS), help="comma-separated")
    parser.add_argument("--models", type=names, default=list(USER_MODELS), help="user loops")
    parser.add_argument("--repeats", type=int, help="rounds of both trainings (default 3)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    before_timing()
    show(figures(args.quick, args.presets, args.repeats, args.models), judged=not args.quick)


if __name__ == "__main__":
    main()
