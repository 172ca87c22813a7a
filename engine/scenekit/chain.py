"""Scene files as classes, and scenes made of other scenes.

``load_scene_file`` runs a scene file as a module of its own and returns its one Scene class:
how nnreel finds a scene by name, without putting ``scenes/`` on ``sys.path`` (scene files
are not a package: one scene per file, for ``manim scenes/NAME.py``).

``ChainScene`` plays the scenes it names in ``parts`` — files in its own folder — one after
another on one run, each after a title card, so that no scene file imports another::

    class Mlp(ChainScene):
        default_preset = "mlp-ring"
        parts = ("fitting", "neurons", "weights")

Each part's ``construct`` runs on the chain's scene, so a part may use only what ``RunScene``
offers (``self.run``, ``self.settings``, ``self.caption``, ``self.step_counter``, …) and its
module's functions; the chain's options are those of its parts.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import ClassVar

from manim import FadeIn, ImageMobject, Scene, config

from engine.errors import NnreelError
from engine.scenekit.base import RunScene, dataset_name, model_name
from engine.scenekit.cards import CARD_SECONDS, card_image, part_title

MODULE_PREFIX = "nnreel_scene_"
"""Scene files run as modules named ``nnreel_scene_<file stem>``: never a name that shadows a
real module (a scene called ``summary`` or ``training``)."""


def load_scene_file(path: Path) -> type[Scene]:
    """The one Scene subclass a scene file defines (imported ones do not count). The file is
    run afresh on every call, so edits to it show in the next render."""
    path = Path(path)
    name = MODULE_PREFIX + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise NnreelError(f"{path} is not a Python file nnreel can load as a scene.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up by module
    spec.loader.exec_module(module)
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Scene) and value.__module__ == name
    ]
    if len(found) != 1:
        raise NnreelError(f"{path} must define exactly one Scene class; it defines {len(found)}.")
    return found[0]


class ChainScene(RunScene):
    """Scenes of this folder (``parts``: their file stems) played in turn on one run, each
    opened by a title card (``engine.scenekit.cards``), as the parts of a lecture are."""

    parts: ClassVar[tuple[str, ...]] = ()
    part_classes: ClassVar[tuple[type[RunScene], ...]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        folder = Path(inspect.getfile(cls)).parent
        cls.part_classes = tuple(load_scene_file(folder / f"{part}.py") for part in cls.parts)
        cls.options = {
            key: option for part in cls.part_classes for key, option in part.options.items()
        }

    def construct(self) -> None:
        for number, (name, part) in enumerate(
            zip(self.parts, self.part_classes, strict=True), start=1
        ):
            self.title_card(f"{number} · {part_title(name)}")
            part.construct(self)

    def title_card(self, title: str) -> None:
        """The whole frame becomes the part's card (faded in over what the last part left),
        held while its caption is read, then the scene is emptied for the part."""
        subtitle = f"{model_name(self.run)} on {dataset_name(self.run)} · run {self.run.name}"
        card = ImageMobject(card_image(title, subtitle, config.pixel_width, config.pixel_height))
        card.stretch_to_fit_width(config.frame_width).stretch_to_fit_height(config.frame_height)
        self.caption(title)
        if self.mobjects:
            self.play(FadeIn(card), run_time=0.5)
        else:
            self.add(card)
        self.hold(CARD_SECONDS)
        self.clear()
