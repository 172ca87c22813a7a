"""The scene kit: what every nnreel scene is built from.

A scene is one file in ``scenes/`` with one ``RunScene`` subclass::

    from engine.scenekit import RunScene, raster_image, theme
    from engine.scenekit import raster as rs

    class Kernels(RunScene):
        default_preset = "vgg16-synth"          # the run used when $NNREEL_RUN is unset

        def construct(self):
            w = self.run.read("weights/conv1_1", -1)[:, 0]          # [16, 3, 3]
            image, scaled = rs.feature_grid(w, cmap="diverging", mode="symmetric")
            step = int(self.run.steps("weights/conv1_1")[-1])
            self.add(raster_image(image, height=5), self.step_counter(step))
            self.add(theme.caption("conv1_1", "16 kernels, input channel 0", scaled.label))
            self.wait(2)

Pieces:

- ``base``: ``RunScene`` finds its run (``$NNREEL_RUN``, else ``default_preset``, trained on the
  spot and kept under ``runs/`` if missing), parses scene options from ``$NNREEL_SET``
  (``"key=value key=value"``, declared in ``options``), sends videos to
  ``renders/<scene file>/<quality>/`` and turns any ``NnreelError`` raised in ``construct``
  into one message and exit status 2 (Manim would print a traceback). ``self.run`` is an
  ``engine.store.Run``; ``self.activations(layer, snapshot)`` checks the layer name.
- ``ownimage``: ``image=FILE`` (parser ``index_or_image``) makes ``self.run`` an ``ImageRun``:
  the run with that file as its probe, its activations computed now by the run's stored model,
  so a scene that films one probe image films the file unchanged (``example_words``,
  ``truth_words`` in ``probe`` word it, with no true class).
- ``raster`` (numpy only): colour maps as lookup tables (``viridis`` and seed 004's
  ``greens`` for activations, ``diverging`` centred on zero for weights and gradients),
  ``normalise`` per channel / per layer / symmetric, ``top_k`` and ``silent`` channels,
  ``tile`` / ``feature_grid`` to composite N maps into one image, ``upscale``, ``to_rgb``.
- ``widgets``: ``raster_image(rgb, height=…)`` (an ``ImageMobject`` with nearest-neighbour pixels),
  ``set_pixels`` (swap what it shows: cheap, for stepping through snapshots), ``framed``,
  ``StepCounter``, ``ProbabilityBars`` (``set_probs`` updates in place), ``ColorBar``.
- ``camera``: ``RasterCamera`` (every ``RunScene`` uses it) composites an upright image only
  where it lies instead of over the whole frame: several times faster per image at 1080p.
- ``theme``: colours, fonts and sizes that read at 1080p and in a 640 px GIF, ``text``,
  ``title``, ``caption``, ``shape_text``; ``vector_text`` when text must animate as shapes.
- ``label``: ``Label``, what ``theme.text`` returns: one line drawn by FreeType into a raster
  at the output resolution (``pixels_per_unit()``), ~2 ms to build against tens for a Manim
  ``Text``, one small image to draw. ``set_text`` changes it in place. An ``ImageMobject``:
  group labels with ``Group``, not ``VGroup``, and do not scale them (make a new one).

Rules that keep renders fast: composite rasters with numpy into a few ``ImageMobject``s (never
one mobject per map or per pixel); animate time by ``set_pixels`` / ``set_text`` /
``set_step`` between ``wait`` calls, not by building new mobjects; prefer cuts to fades for
page changes (every fade frame is drawn, encoded and, in a GIF, stored in full); avoid
Manim ``Text`` in anything that changes often.
"""

from engine.scenekit import raster, theme
from engine.scenekit.base import (
    RUN_ENV,
    SET_ENV,
    Option,
    RunScene,
    batch_words,
    dataset_name,
    ensure_default_run,
    find_run,
    locked,
    model_name,
    names,
    optimizer_words,
    parse_options,
    renders_dir,
    trained_words,
)
from engine.scenekit.camera import RasterCamera
from engine.scenekit.label import Label, pixels_per_unit
from engine.scenekit.ownimage import ImageRun, index_or_image
from engine.scenekit.probe import (
    MAP_KINDS,
    example_words,
    map_layers,
    pick_image,
    recorded_map_layers,
    truth_words,
)
from engine.scenekit.widgets import (
    ColorBar,
    ProbabilityBars,
    StepCounter,
    framed,
    raster_image,
    set_pixels,
)

__all__ = [
    "MAP_KINDS",
    "RUN_ENV",
    "SET_ENV",
    "ColorBar",
    "ImageRun",
    "Label",
    "Option",
    "ProbabilityBars",
    "RasterCamera",
    "RunScene",
    "StepCounter",
    "batch_words",
    "dataset_name",
    "ensure_default_run",
    "example_words",
    "find_run",
    "framed",
    "index_or_image",
    "locked",
    "map_layers",
    "model_name",
    "names",
    "optimizer_words",
    "parse_options",
    "pick_image",
    "pixels_per_unit",
    "raster",
    "raster_image",
    "recorded_map_layers",
    "renders_dir",
    "set_pixels",
    "theme",
    "trained_words",
    "truth_words",
]
