"""``render``: render a scene of ``scenes/`` with Manim and say where the video is."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from engine.console import console
from engine.errors import NnreelError, UnknownNameError
from engine.store import human_bytes

QUALITIES = {
    "low": "low_quality",  # 854×480, 15 fps
    "medium": "medium_quality",  # 1280×720, 30 fps
    "high": "high_quality",  # 1920×1080, 60 fps
    "4k": "fourk_quality",  # 3840×2160, 60 fps
}
FORMATS = ("mp4", "gif")
GIF_MAX_FPS = 30
"""Browsers play GIF frame delays under 2/100 s slowly, so GIFs stop at 30 fps."""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "render",
        help="render a scene (scenes/NAME.py) to renders/ and print where the file is",
        description="Render a scene from scenes/ with Manim into renders/NAME/QUALITY/. The scene "
        "shows the run given by --run (else its default run, trained on the spot if missing).",
        epilog="examples:\n"
        "  python -m engine render featuremaps\n"
        "  python -m engine render featuremaps --run smallcnn-synth --quality low\n"
        "  python -m engine render featuremaps --set image=5 --set layers=conv1_1,pool1\n"
        "  python -m engine render featuremaps --quality medium --format gif",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scene", help="scene name: a file scenes/NAME.py (e.g. featuremaps)")
    parser.add_argument("--run", help="run name under runs/ or a run folder (sets $NNREEL_RUN)")
    parser.add_argument(
        "--quality",
        choices=list(QUALITIES),
        default="high",
        help="low 480p15, medium 720p30, high 1080p60 (default), 4k 2160p60",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="mp4",
        help="gif: rendered as MP4, then converted with a palette built for the clip (far "
        "smaller than Manim's own GIF; for a README size use `export --gif --width 640`)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a scene option (sets $NNREEL_SET); see the scene file's docstring",
    )
    parser.add_argument("--resolution", metavar="W,H", help="override the quality's frame size")
    parser.add_argument("--fps", type=float, help="override the quality's frame rate")
    parser.set_defaults(handler=run)


def scenes_dir() -> Path:
    """``./scenes`` when run from a checkout, else the one beside the ``engine`` package."""
    here = Path("scenes")
    if here.is_dir():
        return here.resolve()
    return Path(__file__).resolve().parents[2] / "scenes"


def scene_file(name: str) -> Path:
    folder = scenes_dir()
    path = folder / f"{Path(name).stem}.py"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))
        raise UnknownNameError("scene", name, known)
    return path


def scene_class(path: Path):
    """The one Scene subclass defined in a scene file (imported ones do not count)."""
    from manim import Scene

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Scene) and value.__module__ == path.stem
    ]
    if len(found) != 1:
        raise NnreelError(f"{path} must define exactly one Scene class; it defines {len(found)}.")
    return found[0]


def parse_resolution(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise NnreelError(f"--resolution {text!r}: give WIDTH,HEIGHT, e.g. 640,360.") from None
    return width, height


@contextlib.contextmanager
def manim_config(
    *,
    quality: str = "high",
    resolution: tuple[int, int] | None = None,
    fps: float | None = None,
    fmt: str = "mp4",
    input_file: Path | None = None,
    media_dir: Path | None = None,
) -> Iterator[None]:
    """Manim's global config set for one render, restored afterwards."""
    from manim import config, tempconfig

    settings = {
        "format": fmt,
        "disable_caching": True,  # hashing raster-heavy scenes costs more than it saves
        "verbosity": "WARNING",
    }
    if input_file is not None:
        settings["input_file"] = input_file
    with tempconfig(settings):
        config.quality = QUALITIES[quality]
        if resolution:
            config.pixel_width, config.pixel_height = resolution
        if fps:
            config.frame_rate = fps
        if media_dir is not None:
            config.media_dir = str(media_dir)
        yield


def render_scene(name: str, **settings) -> Path:
    """Render scene ``name`` in this process (``manim_config`` settings) and return the
    video's path. The run and scene options come from ``$NNREEL_RUN`` / ``$NNREEL_SET``, as
    with ``manim``."""
    path = scene_file(name)
    with manim_config(input_file=path, **settings):
        scene = scene_class(path)()
        scene.render()
        return Path(scene.renderer.file_writer.movie_file_path)


def shown(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run(args: argparse.Namespace) -> int:
    from engine.export import gif_from_video
    from engine.scenekit import RUN_ENV, SET_ENV

    if args.run:
        os.environ[RUN_ENV] = args.run
    if args.set:
        os.environ[SET_ENV] = " ".join(args.set)
    resolution = parse_resolution(args.resolution) if args.resolution else None
    start = time.perf_counter()
    video = render_scene(args.scene, quality=args.quality, resolution=resolution, fps=args.fps)
    took = time.perf_counter() - start
    console.print(
        f"[bold green]Rendered[/] {shown(video)} ({human_bytes(video.stat().st_size)}, "
        f"{took:.0f} s)"
    )
    if args.format == "gif":
        gif = gif_from_video(video, width=None, fps=None, max_fps=GIF_MAX_FPS)
        console.print(f"[bold green]GIF[/] {shown(gif.path)} ({human_bytes(gif.size)})")
    return 0
