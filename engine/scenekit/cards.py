"""Title cards: the still that opens each part of a lecture and of a chained scene, so that no
part begins with a cut or a fade from black without saying what comes.

Plain Python until a card is drawn (the lecture's command line lists titles without loading
numpy or Manim)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

PART_TITLES = {
    "architecture": "The network",
    "operations": "The first conv layer, by hand",  # its pooling may be left out
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


def part_title(scene: str) -> str:
    """The title of a part showing ``scene`` (a scene's file stem)."""
    return PART_TITLES.get(scene, scene.capitalize())


def card_image(title: str, subtitle: str, width: int, height: int) -> np.ndarray:
    """An RGBA title card in the scenes' theme: the part's title and what it shows."""
    import numpy as np
    from PIL import Image, ImageDraw

    from engine.scenekit import raster, theme
    from engine.scenekit.label import font

    image = Image.new("RGBA", (width, height), (*raster.hex_rgb(theme.BACKGROUND), 255))
    draw = ImageDraw.Draw(image)
    big, small = font(max(8, height // 12), bold=True), font(max(6, height // 28))
    centre = (width / 2, height / 2)
    draw.text(centre, title, font=big, fill=theme.TEXT, anchor="md")
    draw.text(
        (centre[0], centre[1] + height / 24), subtitle, font=small, fill=theme.MUTED, anchor="ma"
    )
    return np.asarray(image)
