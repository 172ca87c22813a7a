"""The scene kit: what every nnreel scene is built from.

A scene is one file in ``scenes/`` with one ``RunScene`` subclass::

    from engine.scenekit import Names, RunScene, raster_image, theme
    from engine.scenekit import raster as rs
    from engine.store import schema

    class Kernels(RunScene):
        default_preset = "vgg16-synth"          # the run used when none is given
        options = {"layers": Names(None, "comma-separated conv layers")}

        def construct(self):
            w = self.run.read(schema.weights("conv1_1"), -1)[:, 0]  # [16, 3, 3]
            image, scaled = rs.feature_grid(w, cmap="diverging", mode="symmetric")
            step = int(self.run.steps(schema.weights("conv1_1"))[-1])
            self.add(raster_image(image, height=5), self.step_counter(step))
            self.add(theme.caption("conv1_1", "16 kernels, input channel 0", scaled.label))
            self.wait(2)

Pieces:

- ``base``: ``RunScene`` finds its run (the ``run`` argument or ``$NNREEL_RUN``, else
  ``default_preset``, trained on the spot and kept under ``runs/`` if missing), checks its
  options (arguments or ``$NNREEL_SET``), sends videos to ``renders/<scene file>/<quality>/``
  and turns any ``NnreelError`` raised in ``construct`` into one message and exit status 2
  (Manim would print a traceback). Its Manim settings hold only inside a ``tempconfig``.
  ``self.run`` is an ``engine.store.Run``; ``self.activations(layer, snapshot)`` checks names.
- ``options`` (no Manim): option kinds declared once with literal arguments — ``Choice``,
  ``Flag``, ``Number`` (a range; ``whole`` for integers), ``Names`` — checked in one place
  (``parse_options``) and listed by ``nnreel scenes`` without running the scene file. Text
  options (``$NNREEL_SET``) split as a shell splits words: ``options_text`` quotes values.
- ``pacing`` (no Manim): how long things stay on screen at the readable pace — captions
  read at 16 characters a second and 1.6 s at least (``reading_seconds``), about 3 s
  (``IDEA``) per layer or idea, ``BEAT`` per transition. Every ``RunScene`` takes the
  ``pace`` option (``PACE``: a factor, or ``readable`` / ``brisk``) and plays every ``play``
  and ``wait`` that many times longer; ``hold`` waits until the caption can be read.
- ``chain``: ``ChainScene`` plays other scene files of its folder in turn (``parts``), each
  after a title card (``cards``: the titles and the card image lectures share);
  ``load_scene_file`` runs a scene file as a module and returns its Scene class.
- ``focus``: telling the eye where to look — ``Focus`` / ``pick_out`` zoom into one map of a
  grid and dim the rest, ``morph`` carries a grid onto the next (never two blended),
  ``shrink_into`` / ``grow_from`` move a grid to and from a layer's mark.
- ``sliding``: a window sliding over a map and writing another pixel by pixel with real
  numbers (``SlidingWrite``, ``NumberGrid``, ``cell_box``): convolution and pooling shown.
- ``ownimage``: ``image=FILE`` (option kind ``Image``) makes ``self.run`` an ``ImageRun``:
  the run with that file as its probe, its activations computed now by the run's stored model,
  so a scene that films one probe image films the file unchanged (``example_words``,
  ``truth_words`` in ``probe`` word it, with no true class).
- ``raster`` (numpy only): colour maps as lookup tables (``viridis`` and seed 004's
  ``greens`` for activations, ``diverging`` centred on zero for weights and gradients),
  ``normalise`` per channel / per layer / symmetric, ``honest_mode`` (``auto``: one scale per
  layer where maps are small or flat; centred on zero where they go below zero, drawn with the
  map ``mode_cmap`` names), ``top_k`` and ``silent`` channels, ``tile_box``,
  ``tile`` / ``feature_grid`` to composite N maps into one image, nearest-neighbour resizing
  (``upscale``, ``enlarge``, ``fit_square``, ``resize_nearest``), ``to_rgb``, RGBA helpers.
- ``paint``: text stamped into numpy canvases at the output resolution, filled rectangles,
  blank panels, the spacing ``unit``; ``tiles``: ``Grid`` plans tiles with label rows and bars.
- ``widgets``: ``raster_image(rgb, height=…)`` (an ``ImageMobject`` with nearest-neighbour pixels),
  ``set_pixels`` (swap what it shows: cheap, for stepping through snapshots), ``framed``,
  ``StepCounter``, ``ProbabilityBars`` (``set_probs`` updates in place), ``ColorBar``
  (``scale_ends``: its labels, 0 … max or −max … 0 … +max), ``LogClock`` (a step on a log axis).
- ``replay``: replaying training frame by frame — ``Series`` (a stream at any step, blended
  between snapshots), ``ReplayClock`` (video time → step, paced by change), ``animate``,
  ``OnSnapshot``, ``changed_only``, ``fade_in``, and ``Cues`` for captions inside an animation.
- ``plane``: a 2-D run's plane as pixels — ``PlaneCanvas``, ``Resampler``, ``MapGrid``.
- ``textlayer``: ``TextLayer`` draws many short ``Words`` into one raster.
- ``recordings``: ``ensure_actmax`` records activation-maximisation images on first use,
  ``ensure_examples`` each unit's top validation images.
- ``probe``: which probe image to follow, which layers recorded maps.
- ``places`` (no Manim): where scene files are and where their videos go (``renders_dir``).
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

Names are loaded on first use: ``engine.scenekit.options`` can be read without importing Manim.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "options": (
        "RUN_ENV",
        "SET_ENV",
        "Choice",
        "Flag",
        "Image",
        "Names",
        "Number",
        "Option",
        "assignments",
        "names",
        "options_text",
        "parse_options",
    ),
    "base": (
        "RunScene",
        "dataset_name",
        "ensure_default_run",
        "find_run",
        "locked",
        "model_name",
        "trained_words",
        "batch_words",
        "optimizer_words",
    ),
    "chain": ("ChainScene", "load_scene_file"),
    "places": ("renders_dir",),
    "camera": ("RasterCamera",),
    "label": ("Label", "pixels_per_unit"),
    "ownimage": ("ImageRun", "read_image"),
    "probe": (
        "KIND_WORDS",
        "MAP_KINDS",
        "example_words",
        "map_layers",
        "output_words",
        "pick_image",
        "recorded_map_layers",
        "subject_words",
        "truth_words",
    ),
    "widgets": (
        "ColorBar",
        "LogClock",
        "ProbabilityBars",
        "colour_key",
        "StepCounter",
        "framed",
        "raster_image",
        "scale_ends",
        "set_pixels",
    ),
}
HOME: dict[str, str] = {name: module for module, names in _HOMES.items() for name in names}
"""Where each name of the kit's face lives."""
__all__ = sorted(HOME)


def __getattr__(name: str) -> Any:
    """Load a name of the kit's face from its module the first time it is asked for."""
    if name not in HOME:
        raise AttributeError(f"module 'engine.scenekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"engine.scenekit.{HOME[name]}"), name)
    globals()[name] = value
    return value
