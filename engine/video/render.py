"""Rendering a scene to a video file: Manim's configuration for one render, ``render_scene``,
and ``render`` — nnreel's Python API, which the command line and notebooks share::

    from engine import render

    video = render("training", run="vgg16-synth", quality="low", seconds=4)
    gif = render("featuremaps", quality="medium", fmt="gif", image=5, maps=16)
    deck = render("featuremaps", theme="light", slides=True)      # an HTML presentation
    clip = render("training", theme="light", transparent=True)    # MOV with alpha, for slides

Options are the scene's own (``nnreel scenes NAME``), passed as arguments and checked before
Manim is even imported. Manim's settings hold only for the render (``tempconfig``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from engine.errors import NnreelError, UnknownNameError
from engine.scenekit.options import given_options
from engine.scenekit.places import renders_dir
from engine.video import catalog, notebook
from engine.video import slides as deck
from engine.video.gif import gif_from_video

QUALITIES = {
    "low": "low_quality",  # 854×480, 15 fps
    "medium": "medium_quality",  # 1280×720, 30 fps
    "high": "high_quality",  # 1920×1080, 60 fps
    "4k": "fourk_quality",  # 3840×2160, 60 fps
}
FORMATS = ("mp4", "gif", "mov", "webm")
"""mp4 (default), gif (rendered as MP4, then converted), mov and webm (the formats that keep
an alpha channel: a transparent render is MOV unless WebM is asked for)."""
GIF_MAX_FPS = 30
"""Browsers play GIF frame delays under 2/100 s slowly, so GIFs stop at 30 fps."""


def parse_resolution(text: str) -> tuple[int, int]:
    """``"640,360"`` or ``"640x360"`` → (640, 360)."""
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
    quiet: bool = False,
    transparent: bool = False,
) -> Iterator[None]:
    """Manim's global config set for one render, restored afterwards. ``quiet``: no progress
    bar (renders in parallel processes would garble each other's). ``transparent``: the
    background has alpha 0 (``fmt`` must be mov or webm)."""
    from manim import config, tempconfig

    if transparent and fmt not in ("mov", "webm"):
        raise NnreelError(f"A transparent video is MOV or WebM, not {fmt.upper()}.")
    settings: dict[str, object] = {
        "format": fmt,
        "transparent": transparent,
        "disable_caching": True,  # hashing raster-heavy scenes costs more than it saves
        "verbosity": "WARNING",
    }
    if input_file is not None:
        settings["input_file"] = input_file
    if quiet:
        settings["progress_bar"] = "none"
    with tempconfig(settings):
        config.quality = QUALITIES[quality]
        if resolution:
            config.pixel_width, config.pixel_height = resolution
        if fps:
            config.frame_rate = fps
        if media_dir is not None:
            config.media_dir = str(media_dir)
        yield


def render_scene(
    name: str,
    *,
    run: str | Path | None = None,
    options: Mapping[str, object] | None = None,
    stills: bool = False,
    **settings,
) -> Path:
    """Render scene ``name`` in this process showing ``run`` (None: ``$NNREEL_RUN``, else the
    scene's default run) with scene ``options`` (None: ``$NNREEL_SET``), and return the video's
    path; ``stills``: also a PNG of each key moment, in ``stills/`` beside the video;
    ``settings`` are ``manim_config``'s. Errors the user can fix raise ``NnreelError``."""
    path = catalog.scene_file(name)
    with manim_config(input_file=path, **settings):
        scene = catalog.scene_class(name)(run=run, options=options, stills=stills)
        return scene.render_video()


def render_slides(
    name: str,
    *,
    run: str | Path | None = None,
    options: Mapping[str, object] | None = None,
    stills: bool = False,
    reveal: str | None = None,
    **settings,
) -> deck.Presentation:
    """Render scene ``name`` as a manim-slides presentation (a pause at each key moment) into
    ``slides/`` beside its videos, and export it as HTML; ``reveal``: where the page loads
    reveal.js from (default: a CDN). Arguments as ``render_scene``'s."""
    path = catalog.scene_file(name)
    media = settings.get("media_dir")
    with manim_config(input_file=path, **settings):
        from manim import config

        folder = Path(media) if media else renders_dir(path)
        folder = folder / path.stem / "slides"
        presentation = deck.as_slides(catalog.scene_class(name))
        scene = presentation(run=run, options=options, stills=stills, output_folder=folder)
        scene.render_video()
        background = str(config.background_color.to_hex())
    shown = str(scene)
    html = deck.export_html(folder, shown, background, reveal or deck.REVEAL_CDN)
    return deck.Presentation(folder, shown, html, deck.slide_count(folder, shown))


def render(
    scene: str,
    run: str | Path | None = None,
    quality: str = "high",
    fmt: str = "mp4",
    *,
    resolution: tuple[int, int] | None = None,
    fps: float | None = None,
    media_dir: str | Path | None = None,
    display: bool | None = None,
    transparent: bool = False,
    stills: bool = False,
    slides: bool = False,
    **options: object,
) -> Path:
    """Render ``scene`` (a name from ``nnreel scenes``) and return the path of the video.

    ``run``: a preset name, a run under ``runs/`` or a run folder (None: ``$NNREEL_RUN`` when
    set, else the scene's default run, trained on first use and kept).
    ``quality``: low (480p15), medium (720p30), high (1080p60) or 4k; ``resolution``
    (width, height) and ``fps`` override it.
    ``fmt="gif"`` renders the MP4, then converts it with a palette built for the clip and
    returns the GIF beside it. Videos land in ``renders/<scene>/<quality>/`` beside the
    checkout's ``scenes/`` (else under the working directory), or under ``media_dir``.
    ``options`` are the scene's (``image=5``, ``layers=["conv1_1", "pool1"]``, every scene's
    ``theme="light"`` and ``layout="gif"``; none given: ``$NNREEL_SET``'s), checked before
    rendering.
    ``transparent``: a background with alpha 0, as MOV (or ``fmt="webm"``), for slides.
    ``stills``: a PNG of each key moment (a layer, a part, a page) in ``stills/`` beside it.
    ``slides``: a manim-slides presentation that pauses at each key moment (needs the extra
    ``slides``); returns its HTML export (``manim-slides present`` plays it too).
    ``display``: show the video inline (None: when running in a Jupyter kernel).
    """
    if quality not in QUALITIES:
        raise UnknownNameError("quality setting", quality, QUALITIES)
    if fmt not in FORMATS:
        raise UnknownNameError("video format", fmt, FORMATS)
    if transparent and fmt == "mp4":
        fmt = "mov"
    given = options or None  # none given: $NNREEL_SET's, as for `manim`
    catalog.check_options(scene, given_options(given))
    settings = {
        "run": run,
        "options": given,
        "stills": stills,
        "quality": quality,
        "resolution": resolution,
        "fps": fps,
        "media_dir": Path(media_dir) if media_dir is not None else None,
        "transparent": transparent,
        "fmt": "mp4" if fmt == "gif" else fmt,
    }
    if slides:
        return render_slides(scene, **settings).html
    video = render_scene(scene, **settings)
    if fmt == "gif":
        video = gif_from_video(video, width=None, fps=None, max_fps=GIF_MAX_FPS).path
    notebook.show(video, display)
    return video
