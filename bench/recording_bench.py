"""Recording overhead: training time per epoch with the default recording against the same
loop recording nothing, measured side by side (interleaved, repeated) in one process.

Two kinds of figure: nnreel's presets trained by its own trainer (targets: vgg16-synth at most
1.05×, mlp-ring at most 1.10×), and a plain PyTorch loop of a user's model with
``engine.record`` added against the same loop without it (target: at most 1.05×), for
torchvision's ResNet-18 at 32×32 and the slim VGG-16.

    python -m bench.recording_bench            # presets and user loops
    python -m bench.recording_bench --quick    # smaller data and fewer rounds, for a fast look
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

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


def user_loop_time(
    name: str, recorded: bool, folder: Path, quick: bool, shares: list[float] | None = None
) -> Took:
    """Per epoch of a plain PyTorch loop, with ``engine.record`` or without. Making the
    recorder (tracing, storing the model) stays outside; the final save is inside. A recorded
    loop appends to ``shares`` the part of its time spent inside the recorder's calls."""
    from engine import record

    model, channels = user_model(name)
    size, epochs = (512, 1) if quick else (USER_EPOCH, 2)
    data = load_data("digits", image_size=32, channels=channels, train_size=size, val_size=256)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rec, spent = None, 0.0
    if recorded:
        rec = record(
            model,
            Path(tempfile.mkdtemp(dir=folder)) / name,
            data=data,
            optimizer=opt,
            epochs=epochs,
            steps_per_epoch=size // BATCH,
        )

    def recorder(call: Callable[..., object], **kwargs) -> None:
        nonlocal spent
        start = time.perf_counter()
        call(**kwargs)
        spent += time.perf_counter() - start

    def loop() -> None:
        for _ in range(epochs):
            for x, y in zip(data.x_train.split(BATCH), data.y_train.split(BATCH), strict=True):
                logits = model(x / 255)
                loss = F.cross_entropy(logits, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if rec:
                    recorder(rec.step, loss=loss, logits=logits, targets=y)
            loss, acc = evaluate(model, data)
            if rec:
                recorder(rec.validate, loss=loss, acc=acc)
        if rec:
            recorder(rec.close)

    took, _ = timed(loop)
    if rec and shares is not None:
        shares.append(spent / took.wall)
    return took / epochs


def own_share(shares: list[float]) -> str:
    """The recorder's calls' share of the recorded loops' time: it is measured within each
    loop, so the host's load falls on both of its parts, and it steadies the ratio (which
    leaves out only what recording does to the training steps' own speed)."""
    return f"in the recorder's calls {statistics.median(shares):.1%} of the loop (median)"


def user_overhead(name: str, quick: bool, repeats: int) -> Figure:
    shares: list[float] = []
    return overhead(
        f"engine.record in a user loop, per epoch, {name} 32×32{', quick' if quick else ''}",
        lambda recorded, folder: user_loop_time(name, recorded, folder, quick, shares),
        USER_TARGET,
        repeats,
        lambda: own_share(shares),
    )


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
