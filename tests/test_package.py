"""nnreel installed as a package: the sdist and the wheel built from it hold every scene, a
fresh virtual environment outside the checkout gets a working ``nnreel`` that renders, and the
wheel declares every library the package imports."""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
import zipfile
from email.parser import Parser
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from videos import ROOT

SCENES = sorted(p.stem for p in (ROOT / "scenes").glob("*.py"))
UV = (sys.executable, "-m", "uv")
"""uv, which ``make`` installs into the environment: it builds and installs packages fast."""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel ``uv build`` makes from the sdist it builds first (so both are checked), with
    this environment's setuptools: nothing is downloaded."""
    out = tmp_path_factory.mktemp("dist")
    command = [*UV, "build", "--no-build-isolation", "--python", sys.executable]
    done = subprocess.run(
        [*command, "--out-dir", str(out), str(ROOT)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    (found,) = out.glob("nnreel-*.whl")
    return found


def test_the_wheel_holds_every_module_and_every_scene(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "engine").rglob("*.py")}
    assert modules <= names
    assert {f"engine/scenes/{scene}.py" for scene in SCENES} <= names
    assert not any(name.startswith(("scenes/", "tests/", "bench/")) for name in names)


def imported_modules(path: Path) -> set[str]:
    """Top-level modules a file imports, leaving out those guarded by ``except ImportError``
    (optional: IPython for the notebook display)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    optional = {
        id(node)
        for guard in ast.walk(tree)
        if isinstance(guard, ast.Try)
        and any(ast.unparse(h.type or ast.Name("")) == "ImportError" for h in guard.handlers)
        for statement in guard.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_wheel_declares_every_library_the_package_imports(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(archive.read(metadata).decode())
    # The package's own extras (lightning for its callback, manim-slides for --slides) declare
    # what they import; the test extra declares only what the tests use.
    required = {
        line.split(";")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()
        for line in message.get_all("Requires-Dist")
        if 'extra == "test"' not in line.replace("'", '"')
    }
    sources = [*(ROOT / "engine").rglob("*.py"), *(ROOT / "scenes").glob("*.py")]
    modules = set().union(*(imported_modules(path) for path in sources))
    libraries = sorted(modules - set(sys.stdlib_module_names) - {"engine"})
    distributions = packages_distributions()
    undeclared = {
        module: distributions.get(module)
        for module in libraries
        if not {d.lower() for d in distributions.get(module, [])} & required
    }
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    assert {"srt", "av", "manim", "torch", "torchvision"} <= set(libraries)


@pytest.mark.render
def test_an_installed_nnreel_renders_outside_the_checkout(wheel, fixed_vgg, tmp_path):
    """The wheel in a fresh virtual environment (its dependencies taken from this one), used
    from a folder that is not the checkout: it finds its own scenes and renders into ./renders."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = [*UV, "pip", "install", "--python", str(python), "--no-deps", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=120)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def nnreel(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(venv / "bin" / "nnreel"), *args],
            cwd=elsewhere, capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    where = subprocess.run(
        [str(python), "-c", "import engine; print(engine.__file__)"],
        cwd=elsewhere, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(site)  # the installed copy, not the checkout
    listed = nnreel("scenes")
    assert listed.returncode == 0, listed.stderr
    assert [line.split(" — ")[0] for line in listed.stdout.split("\n\n") if line] == SCENES
    done = nnreel(
        "render", "training", "--run", str(fixed_vgg), "--set", "seconds=1",
        "--resolution", "128,72", "--fps", "5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    video = elsewhere / "renders" / "training" / "72p5" / f"Training-{fixed_vgg.name}.mp4"
    assert video.is_file() and video.stat().st_size > 0
    assert video.with_suffix(".srt").is_file()
