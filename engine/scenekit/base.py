"""``RunScene``: the base of every nnreel scene. It finds the run to show, trains the default
run on the spot when it does not exist yet, checks the scene's options, sends videos to
``renders/``, and turns nnreel's errors into one clear message instead of Manim's traceback.

Its Manim settings (output folder, background, no caching, overlapping encoders) hold only
while the scene is built and while it renders, each time inside a ``tempconfig``: making or
rendering a scene never changes Manim's global ``config`` for what comes after. So does its
look (the ``theme`` and ``layout`` options every scene takes: ``palette.using``).

Scenes call ``key_moment(name)`` each time a new idea (a layer, a part, a page) has been shown:
a presentation (``slides``) pauses there, ``stills`` saves the frame as a PNG named after the
moment, and the layout check (``$NNREEL_CHECK_LAYOUT``) checks the frame."""

from __future__ import annotations

import contextlib
import inspect
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from manim import BLACK, RIGHT, UP, Animation, Scene, config, tempconfig
from rich.markup import escape

from engine.console import console
from engine.errors import NnreelError, RunError
from engine.presets import DEFAULT_PRESET, PRESETS, preset_config
from engine.scenekit import layout, palette, theme
from engine.scenekit.camera import RasterCamera
from engine.scenekit.options import (
    EVERY_SCENE,
    LOOK,
    RUN_ENV,
    Option,
    given_options,
    parse_options,
)
from engine.scenekit.ownimage import ImageRun
from engine.scenekit.pacing import reading_seconds
from engine.scenekit.places import renders_dir
from engine.scenekit.widgets import StepCounter
from engine.store import Run, resolve_run, schema
from engine.store.manifest import MANIFEST

MANIM_MEDIA_DIR = "./media"
MANIM_PARTIALS = "{video_dir}/partial_movie_files/{scene_name}"
CHECK_ENV = "NNREEL_CHECK_LAYOUT"
"""Environment variable that turns the layout check on at every key moment: ``warn`` prints
what is wrong, anything else (``1``) fails the render with it; unset, ``0`` or ``off``: no
check (the default for users; the tests turn it on)."""


# -- where videos go --------------------------------------------------------------------------
def scene_config(scene: type[Scene], run_name: str | None, look: palette.Look) -> dict[str, Any]:
    """The Manim settings a scene renders with, on top of the current ones: videos in
    ``renders/<scene file>/<quality>/`` (unless the user chose a media folder), named after
    the run when it is not the default one (``FeatureMaps-smallcnn``, so renders of different
    runs do not overwrite each other) and after a look that is not the default one
    (``FeatureMaps-light``), the look's background, and no caching."""
    settings: dict[str, Any] = {
        # Manim hashes every mobject of every animation to reuse segments across renders;
        # for scenes of pixel arrays that costs more than it saves (and fills the cache).
        "disable_caching": True,
    }
    if str(config.media_dir) == MANIM_MEDIA_DIR:
        source = config.input_file or inspect.getsourcefile(scene)
        settings["media_dir"] = str(renders_dir(source))
        settings["video_dir"] = "{media_dir}/{module_name}/{quality}"
    if not config.output_file:
        tags = [Path(run_name).name] if run_name else []
        tags += [name for name in (look.palette.name, look.sizes.name) if name not in LOOK_DEFAULTS]
        if tags:
            settings["output_file"] = "-".join([scene.__name__, *tags])
    if config.partial_movie_dir == MANIM_PARTIALS:
        # Its pieces beside it under the same name: two renders of the scene at once (two
        # runs, two looks) would otherwise write over each other's pieces and fail.
        output = Path(settings.get("output_file") or config.output_file or scene.__name__)
        settings["partial_movie_dir"] = f"{{video_dir}}/partial_movie_files/{output.stem}"
    if config.background_color == BLACK:
        settings["background_color"] = look.palette.background
    if config.max_inflight_encoders == 1:
        # Scenes here are many short animations, each its own video segment: let the
        # encoding of one overlap the drawing of the next (Manim's own advice: 4).
        settings["max_inflight_encoders"] = 4
    return settings


LOOK_DEFAULTS = {str(option.default) for option in LOOK.values()}


def chosen_look(given: Mapping[str, object]) -> palette.Look:
    """The palette and type scale ``given`` options ask for. A value that is not valid gives
    the default here: the scene's check of all its options reports it."""
    asked = {key: value for key, value in given.items() if key in LOOK}
    try:
        settings = parse_options(LOOK, asked)
    except NnreelError:
        settings = {key: option.default for key, option in LOOK.items()}
    return palette.look(settings["theme"], settings["layout"])


def layout_check() -> str:
    """'error', 'warn' or 'off', from ``$NNREEL_CHECK_LAYOUT``."""
    value = os.environ.get(CHECK_ENV, "").strip().lower()
    if value in ("", "0", "off", "no", "false"):
        return "off"
    return "warn" if value == "warn" else "error"


def slug(name: str) -> str:
    """A key moment's name as a file name: 'conv1_1 · pool' → 'conv1_1-pool'."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-") or "moment"


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


def find_run(default_preset: str, name: str | None = None, given_by: str = RUN_ENV) -> Run:
    """The run ``name`` (a preset, a name under runs/ or a folder; ``given_by`` says where the
    user named it), else the scene's default run. A run named after a preset is trained on
    first use, like the default (so a missing dataset is reported)."""
    if not name:
        return ensure_default_run(default_preset)
    if name in PRESETS and not (resolve_run(name) / MANIFEST).exists():
        return ensure_default_run(name)
    try:
        run = Run(name)
    except RunError as exc:
        origin = f"${given_by}" if given_by == RUN_ENV else given_by
        raise RunError(
            f"The run {name!r} (from {origin}) cannot be used: {exc}\n"
            f"Train it with `python -m engine train PRESET --run {name}`, list the runs with "
            f"`python -m engine info`, or leave out {origin} to use the default run "
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
    if run.has(schema.VAL_ACC) and len(run.steps(schema.VAL_ACC)):
        words += f" to {theme.percent(run.read(schema.VAL_ACC, -1))} validation accuracy"
    return words


# -- the base scene ---------------------------------------------------------------------------
class RunScene(Scene):
    """A scene that shows one recorded run.

    Subclasses set ``default_preset`` (the run used when none is given) and ``options`` (see
    ``engine.scenekit.options``), and read ``self.run`` and ``self.settings`` in
    ``construct``. The run and the options come from the arguments (``engine.render``), else
    from ``$NNREEL_RUN`` and ``$NNREEL_SET`` (``manim scenes/NAME.py``). Raise
    ``NnreelError`` for anything the user can fix; it is printed as one message and the
    render exits with status 2.

    Every scene also takes ``pace`` (``engine.scenekit.pacing``): each ``play`` and ``wait``
    lasts ``pace`` times what the scene asks, so a scene is written at the readable pace and
    plays brisk or slow unchanged. ``hold`` waits at least until the caption can be read.
    """

    default_preset: ClassVar[str] = DEFAULT_PRESET
    options: ClassVar[dict[str, Option]] = dict(EVERY_SCENE)
    run: Run
    settings: dict[str, Any]
    raise_errors = False
    pace: float = 1.0
    """Seconds of video per second the scene asks for (its ``pace`` option)."""
    _caption: tuple[str, float] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every scene takes ``theme``, ``layout`` and ``pace`` besides the options it declares."""
        super().__init_subclass__(**kwargs)
        cls.options = {**cls.options, **EVERY_SCENE}

    def __init__(
        self,
        *args: Any,
        run: str | Path | None = None,
        options: Mapping[str, object] | None = None,
        stills: bool = False,
        **kwargs: Any,
    ):
        self.run_name = str(run) if run else os.environ.get(RUN_ENV, "").strip() or None
        self.run_given_by = "the run argument" if run else RUN_ENV
        self.given_options = given_options(options)
        self.look = chosen_look(self.given_options)
        self.stills = stills
        self.moments: list[str] = []
        """The key moments so far, in order."""
        self.stills_saved: list[Path] = []
        self.manim_settings = scene_config(type(self), self.run_name, self.look)
        kwargs.setdefault("camera_class", RasterCamera)
        with tempconfig(self.manim_settings), palette.using(self.look):
            super().__init__(*args, **kwargs)

    def setup(self) -> None:
        self.settings = parse_options(self.options, self.given_options)
        self.pace = self.settings["pace"]
        self.run = find_run(self.default_preset, self.run_name, self.run_given_by)
        if isinstance(self.settings.get("image"), Path):  # image=FILE: it is the probe now
            self.run = ImageRun(self.run, self.settings["image"])
            self.settings["image"] = 0

    def compile_animations(self, *args: Any, **kwargs: Any) -> list[Animation]:
        """Manim's animations of one ``play`` (or ``wait``), each lasting ``pace`` times longer:
        the one place where the pace applies, so no scene has to remember it."""
        animations = super().compile_animations(*args, **kwargs)
        for animation in animations:
            animation.run_time *= self.pace
        return animations

    def render(self, preview: bool = False) -> bool:
        """Manim's render in the scene's settings and look, with nnreel's errors as one
        message and exit status 2 (Manim's CLI prints a full traceback for any Exception;
        SystemExit passes it by), unless ``render_video`` asked for them."""
        try:
            with tempconfig(self.manim_settings), palette.using(self.look):
                return super().render(preview)
        except NnreelError as exc:
            if self.raise_errors:
                raise
            console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            raise SystemExit(2) from None

    def render_video(self) -> Path:
        """Render, and return the video's path; nnreel's errors are raised, for the callers
        that report them (nnreel's command line and Python API). Goes through ``render``, so
        what a subclass adds there (a presentation's slides) happens too."""
        self.raise_errors = True
        self.render()
        return Path(self.renderer.file_writer.movie_file_path)

    def tear_down(self) -> None:
        self._close_caption()
        super().tear_down()

    # -- key moments --------------------------------------------------------------------------
    def key_moment(self, name: str) -> None:
        """A new idea (a layer, a part, a page) is fully on screen and has been shown: call it
        after the animation or hold that shows it, since a presentation pauses on the last
        frame played. Slides end here; with ``stills`` the frame is saved as a PNG named after
        the moment; with the layout check on, the frame's layout is checked."""
        self.moments.append(name)
        check = layout_check()
        if check != "off":
            self.check_layout(name, fail=check == "error")
        if self.stills:
            self.save_still(name)
        next_slide = getattr(self, "next_slide", None)  # a manim-slides presentation
        if next_slide is not None:
            next_slide()

    def check_layout(self, moment: str, fail: bool = True) -> list[str]:
        """What is wrong with the frame's layout now (``layout.problems``): raised as one
        ``LayoutError`` naming the moment (``fail``), else printed as warnings."""
        found = layout.problems([*self.mobjects, *self.foreground_mobjects])
        if found and fail:
            raise layout.LayoutError(
                f"{type(self).__name__}, key moment {moment!r}: " + "; ".join(found)
            )
        for line in found:
            console.print(f"[yellow]layout[/] {type(self).__name__} at {moment!r}: {line}")
        return found

    def save_still(self, name: str) -> Path:
        """The frame as it is now, as a PNG beside the video: ``stills/<video>/NN-name.png``
        (transparent where the background is, in a transparent render)."""
        movie = Path(self.renderer.file_writer.movie_file_path)
        folder = movie.parent / "stills" / movie.stem
        folder.mkdir(parents=True, exist_ok=True)
        self.renderer.update_frame(self, ignore_skipping=True)
        image = self.renderer.camera.get_image()
        if not config.transparent:
            image = image.convert("RGB")
        path = folder / f"{len(self.moments):02d}-{slug(name)}.png"
        image.save(path)
        self.stills_saved.append(path)
        return path

    # -- captions -----------------------------------------------------------------------------
    def caption(self, text: str, delay: float = 0.0) -> None:
        """Say what the viewer is looking at from now (or ``delay`` seconds from now, to time
        words within the next animation) until the next caption or the end.

        Captions go through Manim's subcaptions, so an ``.srt`` lands beside the video and
        ``python -m engine lecture`` merges them; write the run's real numbers into them, in
        few words: at the readable pace a caption needs a second for every 16 characters
        (``hold`` waits for that)."""
        start = self.time + delay * self.pace
        self._close_caption(start)
        self._caption = (" ".join(text.split()), start)

    def hold(self, seconds: float = 0.0) -> None:
        """Wait ``seconds`` (at the scene's pace), and longer if the caption on screen has not
        yet been there long enough to read (``pacing.reading_seconds``)."""
        left = 0.0
        if self._caption is not None:
            text, start = self._caption
            left = reading_seconds(text) - (self.time - start) / self.pace
        if max(seconds, left) * self.pace >= 0.5 / config.frame_rate:  # at least a frame
            self.wait(max(seconds, left))

    def caption_read(self) -> bool:
        """Whether the caption on screen (if any) has been there long enough to read, to
        within a frame (Manim's clock moves in whole frames)."""
        if self._caption is None:
            return True
        text, start = self._caption
        return self.time - start >= reading_seconds(text) * self.pace - 1 / config.frame_rate

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
        return self.run.read(schema.acts(layer), snapshot).astype(np.float32)

    def step_counter(self, step: int) -> StepCounter:
        """A step/epoch counter in the top-right corner."""
        counter = StepCounter(self.run.manifest["progress"], step)
        return counter.to_corner(UP + RIGHT, buff=theme.MARGIN)
