"""Telling the eye where to look: one tile of a grid picked out (zoomed in, the rest dimmed),
and grids that move or morph from one layer to the next instead of cutting or cross-fading.

3Blue1Brown walks through a layer by pulling one neuron out of it; here ``Focus`` enlarges one
map of a grid raster from where it sits to a large view, while a cover with a hole over that
map dims every other one, holds, and puts it back. ``morph`` carries a grid onto the place of
the next (a pool shrinking its conv's grid) and then shows the next one crisp: one picture on
screen at a time, never two blended into a ghost. ``shrink_into`` and ``grow_from`` move a grid
out to, and in from, a small mark (a layer's chip in a strip of the network).

Every animation here moves a few mobjects (an image, a cover); none redraws a raster per frame.
"""

from __future__ import annotations

import numpy as np
from manim import (
    UP,
    BackgroundRectangle,
    Cutout,
    FadeIn,
    FadeOut,
    Group,
    ImageMobject,
    Mobject,
    Rectangle,
    Scene,
    config,
)

from engine.scenekit import raster as rs
from engine.scenekit import theme
from engine.scenekit.pacing import BEAT
from engine.scenekit.widgets import raster_image

DIM = 0.72
"""Opacity of the cover over the maps not in focus."""
RIM = 4
"""Stroke width of the frame around the map in focus."""
IN_FOCUS = 1.2
"""Seconds a map stays zoomed in (at the readable pace)."""


def pixel_place(image: ImageMobject, shape: tuple[int, int], box: tuple[int, int, int, int]):
    """Where a pixel ``box`` (x, y, width, height) of the raster ``image`` shows (the raster is
    ``shape`` = (height, width) pixels): its centre and its (width, height) in frame units."""
    height, width = shape
    left, top = image.get_left()[0], image.get_top()[1]
    per_x, per_y = image.width / width, image.height / height
    x, y, w, h = box
    centre = np.array([left + (x + w / 2) * per_x, top - (y + h / 2) * per_y, 0.0])
    return centre, (w * per_x, h * per_y)


class Focus:
    """One map of a grid raster in focus: ``enter`` dims the others and enlarges it to
    ``target`` (a centre and a height, frame units) with ``label`` above it; ``leave`` puts it
    back. The enlarged map is the grid's own pixels of that tile (its colours, its scale),
    enlarged with nearest-neighbour sampling, so the close-up is exactly what the grid shows."""

    def __init__(
        self,
        grid: ImageMobject,
        raster: np.ndarray,
        box: tuple[int, int, int, int],
        target: tuple[np.ndarray, float],
        label: Mobject | None = None,
    ):
        x, y, w, h = box
        self.spot, (self.width, self.height) = pixel_place(grid, raster.shape[:2], box)
        tile = raster[y : y + h, x : x + w, :3]
        factor = max(1, round(target[1] * config.pixel_height / config.frame_height / h))
        self.zoom = raster_image(rs.upscale(tile, factor), height=self.height)
        self.zoom.move_to(self.spot)
        self.rim = Rectangle(width=self.width, height=self.height, stroke_width=RIM)
        self.rim.set_stroke(theme.ACCENT).move_to(self.spot)
        hole = Rectangle(width=self.width, height=self.height).move_to(self.spot)
        sheet = Rectangle(width=grid.width + 0.1, height=grid.height + 0.1).move_to(grid)
        self.cover = Cutout(sheet, hole, stroke_width=0).set_fill(theme.BACKGROUND, DIM)
        self.target, self.label = target, label

    def enter(self, scene: Scene, seconds: float = BEAT) -> None:
        centre, height = self.target
        scale = height / self.height
        scene.add(self.cover, self.zoom, self.rim)
        scene.play(
            FadeIn(self.cover),
            self.zoom.animate.scale(scale).move_to(centre),
            self.rim.animate.scale(scale).move_to(centre),
            run_time=seconds,
        )
        if self.label is not None:
            self.label.next_to(self.rim, UP, buff=0.12)
            backing = BackgroundRectangle(self.label, color=theme.BACKGROUND, buff=0.08)
            self.label = Group(backing.set_fill(opacity=0.9), self.label)
            scene.add(self.label)

    def leave(self, scene: Scene, seconds: float = BEAT / 2) -> None:
        if self.label is not None:
            scene.remove(self.label)
        scale = self.height / self.zoom.height
        scene.play(
            FadeOut(self.cover),
            self.zoom.animate.scale(scale).move_to(self.spot),
            self.rim.animate.scale(scale).move_to(self.spot),
            run_time=seconds,
        )
        scene.remove(self.cover, self.zoom, self.rim)


def pick_out(
    scene: Scene,
    grid: ImageMobject,
    raster: np.ndarray,
    box: tuple[int, int, int, int],
    label: Mobject | None,
    target: tuple[np.ndarray, float],
    seconds: float = IN_FOCUS,
) -> None:
    """Zoom into tile ``box`` of ``grid`` (showing ``raster``), hold it ``seconds``, put it
    back (``Focus``)."""
    picked = Focus(grid, raster, box, target, label)
    picked.enter(scene)
    scene.wait(seconds)
    picked.leave(scene)


def morph(scene: Scene, old: Mobject, new: Mobject, seconds: float = BEAT) -> None:
    """``old`` moves and stretches onto ``new``'s place, then ``new`` replaces it (a pooled
    grid takes over from its conv's grid, shrunk to its size): never both on screen. Two
    groups of as many parts morph part by part (side-by-side panels each onto its own)."""
    pairs = list(zip(old, new, strict=True)) if _parallel(old, new) else [(old, new)]
    scene.play(
        *(
            a.animate.stretch_to_fit_width(b.width).stretch_to_fit_height(b.height).move_to(b)
            for a, b in pairs
        ),
        run_time=seconds,
    )
    scene.remove(old)
    scene.add(new)


def _parallel(old: Mobject, new: Mobject) -> bool:
    return (
        isinstance(old, Group)
        and isinstance(new, Group)
        and len(old.submobjects) == len(new.submobjects) > 1
    )


def shrink_into(scene: Scene, shown: Mobject, mark: Mobject, seconds: float = BEAT / 2) -> None:
    """``shown`` shrinks into ``mark`` (fading as it lands) and leaves the scene."""
    scene.play(
        shown.animate.scale_to_fit_height(max(mark.height, 0.05)).move_to(mark).set_opacity(0.2),
        run_time=seconds,
    )
    scene.remove(shown)


def grow_from(scene: Scene, shown: Mobject, mark: Mobject, seconds: float = BEAT / 2) -> None:
    """``shown`` grows out of ``mark`` to where it stands now."""
    place, height = shown.get_center(), shown.height
    shown.scale_to_fit_height(max(mark.height, 0.05)).move_to(mark)
    scene.add(shown)
    scene.play(shown.animate.scale_to_fit_height(height).move_to(place), run_time=seconds)
