"""A scene as a live presentation: manim-slides (the optional extra ``slides``) pauses it at each
key moment (``RunScene.key_moment``: a layer, a part, a page), for ``manim-slides present`` to
click through, and exports it as an HTML page (reveal.js) that plays in a browser.

    render("featuremaps", slides=True, theme="light")   # renders/featuremaps/slides/…
    manim-slides present --folder renders/featuremaps/slides FeatureMaps
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import NnreelError

if TYPE_CHECKING:
    from manim import Scene

REVEAL_CDN = "https://cdn.jsdelivr.net/npm/reveal.js@{reveal_version}"
"""Where the HTML export loads reveal.js from (manim-slides' default); a folder holding
reveal.js's ``dist/`` works as well, for a presentation with no network."""


@dataclass(frozen=True)
class Presentation:
    """What ``render_slides`` made: the manim-slides folder and scene name (for ``manim-slides
    present --folder FOLDER NAME``), the HTML export, and how many slides there are."""

    folder: Path
    name: str
    html: Path
    slides: int

    @property
    def command(self) -> str:
        return f"manim-slides present --folder {self.folder} {self.name}"


def slide_base() -> type:
    """manim-slides' ``Slide``, or one message saying how to install it."""
    try:
        from manim_slides import Slide
    except ImportError:
        raise NnreelError(
            "Presenting needs manim-slides: pip install 'nnreel[slides]' (or pip install "
            "manim-slides)."
        ) from None
    return Slide


def as_slides(scene: type[Scene]) -> type[Scene]:
    """``scene`` as a manim-slides presentation: the same scene, with a pause at each key
    moment, named after its video (``FeatureMaps-light``: presentations of other runs and
    looks do not overwrite each other). No reversed copies of the animations are made (going
    back jumps to the previous slide), which halves the work."""

    slide = slide_base()

    def name(self) -> str:
        return Path(self.renderer.file_writer.movie_file_path).stem

    # manim-slides 5.7 sets two settings Manim 0.22 refuses; these skip them.
    def __init__(self, *args, **kwargs) -> None:
        # Slide.__init__ only sets config["write_to_movie"] (for OpenGL), a key Manim 0.22
        # removed; the Cairo renderer writes movies anyway.
        super(slide, self).__init__(*args, **kwargs)

    def render(self, *args, **kwargs) -> None:
        # Slide.render lifts Manim's cache limit with float("inf"), which Manim 0.22 refuses;
        # with caching off (engine.video.render.manim_config) there is no limit to lift.
        super(slide, self).render(*args, **kwargs)
        self._save_slides(use_cache=False, skip_reversing=True)

    return type(
        scene.__name__,
        (slide, scene),
        {
            "__module__": scene.__module__,
            "__init__": __init__,
            "render": render,
            "skip_reversing": True,
            "__str__": name,
        },
    )


def export_html(folder: Path, name: str, background: str, cdn: str = REVEAL_CDN) -> Path:
    """The presentation ``folder/name.json`` as ``folder/name.html`` (its videos beside it in
    ``name_assets/``), on the scene's background colour. The page's address names the slide
    on screen (``page.html#/3``: reloading stays there, a link opens one slide)."""
    from manim_slides.config import PresentationConfig
    from manim_slides.convert import RevealJS

    config = PresentationConfig.from_file(folder / f"{name}.json")
    html = folder / f"{name}.html"
    RevealJS(
        presentation_configs=[config],
        background_color=background,
        cdn_url=cdn,
        title=name,
        hash="true",  # a JavaScript boolean, as manim-slides spells it
    ).convert_to(html)
    return html


def slide_count(folder: Path, name: str) -> int:
    from manim_slides.config import PresentationConfig

    return len(PresentationConfig.from_file(folder / f"{name}.json").slides)
