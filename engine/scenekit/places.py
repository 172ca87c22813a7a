"""Where scene files and their videos live (plain paths: no Manim).

A checkout keeps its scenes in ``scenes/`` beside ``engine/`` and its videos in ``renders/``
beside that; an installed nnreel carries its scenes inside the package (``engine/scenes`` in
the wheel), and their videos go under the working directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
INSTALLED_SCENES = PACKAGE / "scenes"
"""The scenes an installed nnreel carries (``engine/scenes`` in the wheel)."""
CHECKOUT_SCENES = PACKAGE.parent / "scenes"
"""The scenes of a checkout of the repository, beside ``engine/``."""


def renders_dir(scene_file: str | Path | None) -> Path:
    """``renders/`` of the project a scene file belongs to: beside the ``scenes/`` folder that
    holds it (so the output does not depend on the working directory), else — for the scenes
    of an installed nnreel too — ``./renders``."""
    if scene_file:
        folder = Path(scene_file).resolve().parent
        if folder.name == "scenes" and folder != INSTALLED_SCENES:
            return folder.parent / "renders"
    return Path("renders").resolve()
