"""Title cards: the still that opens each part of a lecture and of a chained scene, so that no
part begins with a cut or a fade from black without saying what comes.

Plain Python until a card is drawn (the lecture's command line lists titles without loading
numpy or Manim)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import ImageDraw, ImageFont

PART_TITLES = {
    "architecture": "The network",
    "operations": "A conv layer, by hand",  # its pooling may be left out
    "summary": "Parameters and cost",
    "training": "Training",
    "gradients": "Gradients",
    "featuremaps": "Feature maps",
    "unit": "One unit, four views",
    "kernels": "Kernels",
    "actmax": "What the units want to see",
    "filters": "Filters",
    "activations": "Activations, layer by layer",
    "pruning": "Pruning",
    "fitting": "The fit",
    "neurons": "Neurons",
    "weights": "Weights",
    "mlp": "An MLP learning a shape",
}
CARD_SECONDS = 2.0
"""Seconds a card stays (at the readable pace)."""
CARD_TEXT_WIDTH = 0.9
"""The widest a card's line may be, as a fraction of the frame (a long run name shrinks)."""


def part_title(scene: str) -> str:
    """The title of a part showing ``scene`` (a scene's file stem)."""
    return PART_TITLES.get(scene, scene.capitalize())


def card_image(title: str, subtitle: str, width: int, height: int) -> np.ndarray:
    """An RGBA title card in the scenes' theme: the part's title and what it shows."""
    import numpy as np
    from PIL import Image, ImageDraw

    from engine.scenekit import raster, theme

    image = Image.new("RGBA", (width, height), (*raster.hex_rgb(theme.BACKGROUND), 255))
    draw = ImageDraw.Draw(image)
    room = CARD_TEXT_WIDTH * width
    big = _fitted_font(draw, title, max(8, height // 12), room, bold=True)
    small = _fitted_font(draw, subtitle, max(6, height // 28), room)
    centre = (width / 2, height / 2)
    draw.text(centre, title, font=big, fill=theme.TEXT, anchor="md")
    draw.text(
        (centre[0], centre[1] + height / 24), subtitle, font=small, fill=theme.MUTED, anchor="ma"
    )
    return np.asarray(image)


def _fitted_font(
    draw: ImageDraw.ImageDraw, text: str, pixels: int, room: float, bold: bool = False
) -> ImageFont.FreeTypeFont:
    """The font at ``pixels`` per em, or smaller, so that ``text`` is at most ``room`` wide."""
    from engine.scenekit.label import font

    face = font(pixels, bold=bold)
    width = draw.textlength(text, font=face)
    if width <= room:
        return face
    return font(max(6, int(pixels * room / width)), bold=bold)
