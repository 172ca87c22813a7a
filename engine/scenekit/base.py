"""``RunScene``: the base of every nnreel scene. It finds the run to show, trains the default
run on the spot when it does not exist yet, sends videos to ``renders/``, and turns nnreel's
errors into one clear message instead of Manim's traceback."""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from manim import BLACK, RIGHT, UP, Scene, config

from engine.console import console
from engine.errors import NnreelError, RunError, UnknownNameError
from engine.presets import DEFAULT_PRESET, PRESETS, preset_config
from engine.scenekit import theme
from engine.scenekit.camera import RasterCamera
from engine.scenekit.ownimage import ImageRun
from engine.scenekit.widgets import StepCounter
from engine.store import Run, resolve_run
from engine.store.manifest import MANIFEST

RUN_ENV = "NNREEL_RUN"
"""Environment variable naming the run a scene shows (a name under runs/ or a folder)."""
SET_ENV = "NNREEL_SET"
"""Environment variable with scene options, e.g. ``NNREEL_SET="image=3 layers=conv1_1,pool1"``."""
MANIM_MEDIA_DIR = "./media"


# -- where videos go --------------------------------------------------------------------------
def renders_dir(scene_file: str | Path | None) -> Path:
    """``renders/`` of the project a scene file belongs to: beside the ``scenes/`` folder that
    holds it (so the output does not depend on the working directory), else ``./renders``."""
    if scene_file:
        folder = Path(scene_file).resolve().parent
        if folder.name == "scenes":
            return folder.parent / "renders"
    return Path("renders").resolve()


def route_output(scene_file: str | Path | None) -> None:
    """Point Manim's media folder at ``renders/`` and its videos at
    ``renders/<scene file>/<quality>/``, unless the user chose a media folder themselves."""
    if str(config.media_dir) != MANIM_MEDIA_DIR:
        return
    config.media_dir = str(renders_dir(scene_file))
    config.video_dir = "{media_dir}/{module_name}/{quality}"


def name_after_run(scene_name: str) -> None:
    """Name the video after the run when it is not the default one (``FeatureMaps-smallcnn``),
    so renders of different runs do not overwrite each other."""
    run = os.environ.get(RUN_ENV, "").strip()
    if run and not config.output_file:
        config.output_file = f"{scene_name}-{Path(run).name}"


# -- which run --------------------------------------------------------------------------------
@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock file, so two renders never train the same default run at once."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; a race here only costs a retrain
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_default_run(preset: str) -> Run:
    """The run named after ``preset``: trained now (and kept) if missing, finished first if
    its training was stopped with Ctrl-C."""
    from engine.training import resume, train

    folder = resolve_run(preset)
    with locked(folder.parent / f".{preset}.lock"):
        if not (folder / "manifest.json").exists():
            console.print(
                f"[bold]No run {preset!r} yet[/]: training it now from its preset "
                f"(once; it is kept in {folder} for next time)."
            )
            result = train(preset_config(preset), folder)
        elif (status := Run(folder).status) == "interrupted":
            console.print(f"Run {preset!r} was interrupted: finishing its training first.")
            result = resume(folder)
        elif status == "running":  # another process trains it, or one that was killed did
            raise RunError(
                f"Run {preset!r} is still marked as training ({folder}). Wait for that "
                "training to end; if it was killed, continue it with "
                f"`python -m engine train --resume {folder}`."
            )
        elif status == "failed":
            raise RunError(
                f"Training of run {preset!r} failed: {Run(folder).manifest.get('message')}. "
                f"Remove {folder} to train it again."
            )
        else:
            return Run(folder)
    if result.status != "finished":
        raise RunError(
            f"Training of {preset!r} stopped at step {result.step:,}. Run the same command "
            f"again to continue it, or `python -m engine train --resume {folder}`."
        )
    return Run(folder)


def find_run(default_preset: str) -> Run:
    """The run named by ``$NNREEL_RUN``, else the scene's default run. A run named after a
    preset is trained on first use, like the default (so a missing dataset is reported)."""
    name = os.environ.get(RUN_ENV, "").strip()
    if not name:
        return ensure_default_run(default_preset)
    if name in PRESETS and not (resolve_run(name) / MANIFEST).exists():
        return ensure_default_run(name)
    try:
        run = Run(name)
    except RunError as exc:
        raise RunError(
            f"The run {name!r} (from ${RUN_ENV}) cannot be used: {exc}\n"
            f"Train it with `python -m engine train PRESET --run {name}`, list the runs with "
            f"`python -m engine info`, or unset {RUN_ENV} to use the default run "
            f"({default_preset!r}, trained on the spot if missing)."
        ) from None
    if run.status != "finished":
        step = run.manifest["progress"].get("step", 0)
        console.print(
            f"[yellow]Run {run.name!r} is {run.status} at step {step:,}; showing what it "
            "recorded so far."
        )
    return run


ARCH_NAMES = {
    "vgg16": "VGG-16",
    "vggcifar": "CIFAR VGG",
    "imagenet-vgg16": "VGG-16 (ImageNet)",
    "smallcnn": "small CNN",
    "mlp": "MLP",
}


DATASET_NAMES = {
    "digits": "procedural digits",
    "mnist": "MNIST",
    "mnist-test": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "svhn": "SVHN",
    "ring": "ring-versus-disc points",
    "xor": "XOR points",
    "mask": "the inside of a shape",
}


def dataset_name(run: Run) -> str:
    name = str(run.dataset.get("name", "?"))
    return DATASET_NAMES.get(name, name)


def model_name(run: Run) -> str:
    """A short human name for a run's model: 'slim VGG-16 (width 0.25)', 'small CNN'."""
    arch = run.model["arch"]
    name = ARCH_NAMES.get(arch, arch)
    width = run.model.get("config", {}).get("width", 1.0)
    if width and width < 1:
        return f"slim {name} (width {width:g})"
    return name


OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}


def optimizer_words(run: Run, joint: str = " at ") -> str:
    """The optimiser and learning rate from the manifest, for captions: 'Adam at lr 0.002'
    ('Adam, lr 0.002' with ``joint=", "``); what is unknown is left out, never a '?'."""
    info = run.optimizer
    if info is None:
        return "an unrecorded optimiser"
    name = OPTIMIZER_NAMES.get(info.name.lower(), info.name)
    return name if info.lr is None else f"{name}{joint}lr {info.lr:g}"


def batch_words(run: Run) -> str:
    """'batch 64', or 'batches' when the run does not say how big they were."""
    size = run.hparams.get("batch_size")
    return f"batch {size}" if size else "batches"


def trained_words(run: Run) -> str:
    """How far a run was trained, for captions: 'trained 2 epochs to 97.8% validation
    accuracy' (the accuracy when the run evaluated one)."""
    progress = run.manifest["progress"]
    step, epoch = int(progress.get("step", 0)), int(progress.get("epoch", 0))
    if step == 0:
        return "untrained"
    epochs = f"{epoch} epoch{'s' if epoch != 1 else ''}" if epoch else f"{step:,} steps"
    words = f"trained {epochs}"
    if run.has("val/acc") and len(run.steps("val/acc")):
        words += f" to {theme.percent(run.read('val/acc', -1))} validation accuracy"
    return words


# -- scene options ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """A scene setting the user can change through ``$NNREEL_SET`` (or ``render --set``)."""

    default: Any
    parse: Callable[[str], Any]
    help: str


def names(value: str) -> list[str]:
    """Option parser for comma-separated names."""
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_options(spec: dict[str, Option], text: str) -> dict[str, Any]:
    """``"image=3 layers=a,b"`` → ``{"image": 3, "layers": ["a", "b"]}`` on top of defaults."""
    values = {key: option.default for key, option in spec.items()}
    for item in text.split():
        key, sep, raw = item.partition("=")
        if key not in spec:
            raise UnknownNameError("scene option", key, spec)
        if not sep:
            raise NnreelError(f"Scene option {item!r} needs a value: {key}=VALUE.")
        try:
            values[key] = spec[key].parse(raw)
        except ValueError:
            raise NnreelError(
                f"Scene option {key}={raw!r} is not valid: {spec[key].help}."
            ) from None
    return values


# -- the base scene ---------------------------------------------------------------------------
class RunScene(Scene):
    """A scene that shows one recorded run.

    Subclasses set ``default_preset`` (the run used when ``$NNREEL_RUN`` is unset) and
    ``options``, and read ``self.run`` and ``self.settings`` in ``construct``. Raise
    ``NnreelError`` for anything the user can fix; it is printed as one message and the
    render exits with status 2.
    """

    default_preset: ClassVar[str] = DEFAULT_PRESET
    options: ClassVar[dict[str, Option]] = {}
    run: Run
    settings: dict[str, Any]
    _caption: tuple[str, float] | None = None

    def __init__(self, *args: Any, **kwargs: Any):
        route_output(config.input_file or inspect.getsourcefile(type(self)))
        name_after_run(type(self).__name__)
        if config.background_color == BLACK:
            config.background_color = theme.BACKGROUND
        # Manim hashes every mobject of every animation to reuse segments across renders;
        # for scenes of pixel arrays that costs more than it saves (and fills the cache).
        config.disable_caching = True
        if config.max_inflight_encoders == 1:
            # Scenes here are many short animations, each its own video segment: let the
            # encoding of one overlap the drawing of the next (Manim's own advice: 4).
            config.max_inflight_encoders = 4
        kwargs.setdefault("camera_class", RasterCamera)
        super().__init__(*args, **kwargs)

    def setup(self) -> None:
        self.settings = parse_options(self.options, os.environ.get(SET_ENV, ""))
        self.run = find_run(self.default_preset)
        if isinstance(self.settings.get("image"), Path):  # image=FILE: it is the probe now
            self.run = ImageRun(self.run, self.settings["image"])
            self.settings["image"] = 0

    def render(self, preview: bool = False) -> bool:
        try:
            return super().render(preview)
        except NnreelError as exc:
            # Manim's CLI prints a full traceback for any Exception; SystemExit passes it by.
            console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
            raise SystemExit(2) from None

    def tear_down(self) -> None:
        self._close_caption()
        super().tear_down()

    # -- captions -----------------------------------------------------------------------------
    def caption(self, text: str, delay: float = 0.0) -> None:
        """Say what the viewer is looking at from now (or ``delay`` seconds from now, to time
        words within the next animation) until the next caption or the end.

        Captions go through Manim's subcaptions, so an ``.srt`` lands beside the video and
        ``python -m engine lecture`` merges them; write the run's real numbers into them."""
        start = self.time + delay
        self._close_caption(start)
        self._caption = (" ".join(text.split()), start)

    def _close_caption(self, end: float | None = None) -> None:
        if self._caption is None:
            return
        text, start = self._caption
        self._caption = None
        end = self.time if end is None else end
        if end > start:
            self.add_subcaption(text, duration=end - start, offset=start - self.time)

    # -- reading the run ----------------------------------------------------------------------
    def activations(self, layer: str, snapshot: int = -1) -> np.ndarray:
        """Recorded activations of ``layer`` on the probe batch at one snapshot (float32)."""
        self.run.layer(layer)  # an unknown layer names the valid ones
        return self.run.read(f"acts/{layer}", snapshot).astype(np.float32)

    def step_counter(self, step: int) -> StepCounter:
        """A step/epoch counter in the top-right corner."""
        counter = StepCounter(self.run.manifest["progress"], step)
        return counter.to_corner(UP + RIGHT, buff=theme.MARGIN)
