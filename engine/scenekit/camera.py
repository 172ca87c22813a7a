"""A Cairo camera that draws images in their own box.

Manim's camera pastes every ``ImageMobject`` into a transparent image as large as the frame
and alpha-composites that whole frame: at 1080p that is several full-frame passes per image
per frame (about 15–30 ms), whatever the image's size. Our scenes are made of images, so
``RasterCamera`` composites only the rectangle an upright image covers, which costs in
proportion to its area. Rotated or sheared images still take Manim's general path.
"""

from __future__ import annotations

import numpy as np
from manim import Camera
from PIL import Image


def upright_box(corners: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) in pixels when the corners (upper left, upper right, lower left, lower
    right) form an upright rectangle, else None."""
    ul, ur, dl = corners[0], corners[1], corners[2]
    if abs(ur[1] - ul[1]) > 1e-3 or abs(dl[0] - ul[0]) > 1e-3:
        return None
    if ur[0] <= ul[0] or dl[1] <= ul[1]:
        return None  # mirrored: leave it to Manim
    # Round the corner and the size, not both edges: two roundings can make the box a pixel
    # narrower than the image, and nearest-neighbour resizing then drops a column.
    x0, y0 = round(ul[0]), round(ul[1])
    return x0, y0, x0 + round(ur[0] - ul[0]), y0 + round(dl[1] - ul[1])


class RasterCamera(Camera):
    def display_image_mobject(self, image_mobject, pixel_array: np.ndarray) -> None:
        corners = self.points_to_subpixel_coords(image_mobject, image_mobject.points)
        box = upright_box(corners)
        if box is None:
            super().display_image_mobject(image_mobject, pixel_array)
            return
        x0, y0, x1, y1 = box
        if x1 <= x0 or y1 <= y0:
            return
        left, top = max(x0, 0), max(y0, 0)
        right, bottom = min(x1, self.pixel_width), min(y1, self.pixel_height)
        if left >= right or top >= bottom:
            return
        image = Image.fromarray(image_mobject.get_pixel_array())
        if image.size != (x1 - x0, y1 - y0):
            image = image.resize((x1 - x0, y1 - y0), resample=image_mobject.resampling_algorithm)
        pixels = np.asarray(image)[top - y0 : bottom - y0, left - x0 : right - x0]
        region = pixel_array[top:bottom, left:right]
        if pixels[..., 3].min() == 255:  # opaque: nothing below shows through
            region[:] = pixels
            return
        below = Image.fromarray(np.ascontiguousarray(region))
        region[:] = np.asarray(Image.alpha_composite(below, Image.fromarray(pixels)))
