"""Packaging beyond pyproject.toml: the scene files travel inside the package.

``scenes/`` stays at the top of the repository, so that ``manim scenes/NAME.py`` works from a
checkout; a wheel or an sdist installs it as ``engine/scenes``, where an installed nnreel finds
its scenes (``engine.video.catalog``). pyproject.toml cannot map a folder from outside the
package while also finding the packages, hence this file: everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["engine", "engine.*"]), "engine.scenes"],
    package_dir={"engine.scenes": "scenes"},
)
