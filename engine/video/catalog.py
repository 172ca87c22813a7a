"""Which scenes there are, where their files are, and what each declares — read without running
the scene files, so that listing scenes and checking options needs neither Manim nor torch.

Scenes are found, by file name, in ``./scenes`` (a project's own scenes), then in the scenes
an installed nnreel carries (``engine/scenes`` in the wheel), then in the checkout's
``scenes/`` beside the ``engine`` package; the first file of a name wins.

A scene file declares, in its one Scene class, ``default_preset = "…"``, the options it takes
(``options = {"name": Kind(literal arguments), **GROUP}``, see ``engine.scenekit.options``)
and, for a scene that chains others, ``parts = ("…", …)``. ``read_scene`` reads these from the
file's syntax tree; the class docstring's first paragraph is the scene's line in the listing.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import NnreelError, UnknownNameError
from engine.presets import DEFAULT_PRESET
from engine.scenekit.options import EVERY_SCENE, GROUPS, KINDS, Option, parse_options
from engine.scenekit.places import CHECKOUT_SCENES, INSTALLED_SCENES


@dataclass(frozen=True)
class SceneInfo:
    """What a scene file declares."""

    name: str
    path: Path
    class_name: str
    summary: str
    """The first paragraph of the scene class's docstring, on one line."""
    default_run: str
    options: dict[str, Option] | None
    """None when the file builds them in code rather than declaring them (see the module)."""
    parts: tuple[str, ...] = ()
    """The scenes a chained scene plays in turn."""


# -- finding scene files ------------------------------------------------------------------------
def scene_folders() -> list[Path]:
    """The folders searched for scenes, in order (only those that exist)."""
    found: list[Path] = []
    for folder in (Path("scenes").resolve(), INSTALLED_SCENES, CHECKOUT_SCENES):
        if folder.is_dir() and folder not in found:
            found.append(folder)
    return found


def scene_paths() -> dict[str, Path]:
    """Every scene's file by scene name, sorted by name."""
    paths: dict[str, Path] = {}
    for folder in scene_folders():
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith("_"):
                paths.setdefault(path.stem, path)
    return dict(sorted(paths.items()))


def scene_file(name: str) -> Path:
    """The file of scene ``name`` (a file stem, e.g. ``featuremaps``; ``featuremaps.py`` too)."""
    paths = scene_paths()
    stem = Path(name).stem
    if stem not in paths:
        raise UnknownNameError("scene", name, paths)
    return paths[stem]


def scene_class(name: str) -> type:
    """Scene ``name``'s class, its file run as a module (this imports Manim)."""
    from engine.scenekit.chain import load_scene_file

    return load_scene_file(scene_file(name))


# -- what a scene declares ----------------------------------------------------------------------
class NotDeclared(Exception):
    """A declaration written in code rather than literally."""


def read_scene(path: Path) -> SceneInfo:
    """What the scene file at ``path`` declares, read from its syntax tree (never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    scenes = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any(_base_name(b).endswith("Scene") for b in node.bases)
    ]
    if len(scenes) != 1:
        raise NnreelError(f"{path} must define exactly one Scene class; it defines {len(scenes)}.")
    body = _assignments(scenes[0].body)
    parts = tuple(_declared(path, body, "parts", ()))
    return SceneInfo(
        name=path.stem,
        path=path,
        class_name=scenes[0].name,
        summary=_first_paragraph(ast.get_docstring(scenes[0]) or ""),
        default_run=str(_declared(path, body, "default_preset", DEFAULT_PRESET)),
        options=_scene_options(path, body, _assignments(tree.body), parts),
        parts=parts,
    )


def _declared(path: Path, body: dict[str, ast.expr], name: str, default: Any) -> Any:
    """A literal class attribute of the scene (``default`` when it declares none)."""
    if name not in body:
        return default
    try:
        return _literal(body[name])
    except NotDeclared:
        raise NnreelError(
            f"{path}: write {name} as a literal value, so that nnreel can read it without "
            "running the file."
        ) from None


def _scene_options(
    path: Path, body: dict[str, ast.expr], module: dict[str, ast.expr], parts: tuple[str, ...]
) -> dict[str, Option] | None:
    """The options a scene declares (a chained scene: those of its parts, in order) and those
    every scene takes, or None when they are built in code."""
    try:
        if not parts:
            declared = _options(body["options"], module, set()) if "options" in body else {}
            return {**declared, **EVERY_SCENE}
        options: dict[str, Option] = {}
        for part in parts:
            declared = read_scene(path.parent / f"{part}.py").options
            if declared is None:
                raise NotDeclared
            options.update(declared)
        return options
    except NotDeclared:
        return None


def scene_info(name: str) -> SceneInfo:
    """What scene ``name`` declares."""
    return read_scene(scene_file(name))


def scene_infos() -> list[SceneInfo]:
    """Every scene's declarations, by name."""
    return [read_scene(path) for path in scene_paths().values()]


def check_options(name: str, given: Mapping[str, object]) -> dict[str, Any]:
    """Scene ``name``'s settings from ``given`` (checked as the scene will check them), without
    running the scene file; an empty dict when the scene does not declare its options."""
    spec = scene_info(name).options
    return {} if spec is None else parse_options(spec, given)


def _base_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _assignments(statements: list[ast.stmt]) -> dict[str, ast.expr]:
    """Name → value of the plain assignments among ``statements`` (the last one wins)."""
    found: dict[str, ast.expr] = {}
    for statement in statements:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        found.update((t.id, value) for t in targets if isinstance(t, ast.Name))
    return found


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise NotDeclared from None


def _options(node: ast.expr, module: dict[str, ast.expr], seen: set[str]) -> dict[str, Option]:
    """The options a dict display declares: ``"key": Kind(literals)`` items, and spreads of a
    kit group (``**REPLAY``) or of a module-level dict declared the same way."""
    if isinstance(node, ast.Name):
        if node.id in GROUPS:
            return dict(GROUPS[node.id])
        if node.id in module and node.id not in seen:
            return _options(module[node.id], module, seen | {node.id})
        raise NotDeclared
    if not isinstance(node, ast.Dict):
        raise NotDeclared
    options: dict[str, Option] = {}
    for key, value in zip(node.keys, node.values, strict=True):
        if key is None:
            options.update(_options(value, module, seen))
        else:
            options[str(_literal(key))] = _option(value)
    return options


def _option(node: ast.expr) -> Option:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise NotDeclared
    kind = KINDS.get(node.func.id)
    if kind is None or any(kw.arg is None for kw in node.keywords):
        raise NotDeclared
    args = [_literal(arg) for arg in node.args]
    return kind(*args, **{kw.arg: _literal(kw.value) for kw in node.keywords})


def _first_paragraph(doc: str) -> str:
    return " ".join(doc.split("\n\n")[0].split())


# -- the listing --------------------------------------------------------------------------------
def listing(infos: list[SceneInfo]) -> str:
    """Every scene with its line and default run, and each option with its values, default and
    help: what ``nnreel scenes`` prints."""
    lines: list[str] = []
    for info in infos:
        lines.append(f"{info.name} — {info.summary}")
        made = f"; plays {', '.join(info.parts)} in turn" if info.parts else ""
        lines.append(f"    default run: {info.default_run}{made}")
        if info.options is None:
            lines.append(f"    options: declared in code, see {info.path}")
        for key, option in (info.options or {}).items():
            lines.append(
                f"    {key:<12} {option.describe():<32} default {option.shown_default():<9} "
                f"{option.help}"
            )
        lines.append("")
    return "\n".join(lines)
