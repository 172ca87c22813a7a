"""Scene options, declared once and checked in one place.

A scene lists what the user may change as ``options = {"name": Kind(default, help, ...)}``;
``parse_options`` turns what the user gave — text from ``render --set`` or ``$NNREEL_SET``, or
Python values from ``engine.render(scene, name=value)`` — into checked values on top of the
defaults, and every refusal says what is valid. Each kind also describes itself in words, so
``nnreel scenes`` lists every option with its type, default and help.

Plain Python, no Manim: the command line reads a scene's options without running the scene
file (``engine.video.catalog`` reads the declaration from the file's syntax tree), so scenes
declare them with literal arguments, and may spread a group from this module (``**REPLAY``).
Every scene also takes ``EVERY_SCENE`` (its theme and layout) without declaring them.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from engine.errors import NnreelError, UnknownNameError

RUN_ENV = "NNREEL_RUN"
"""Environment variable naming the run a scene shows when none is given (a name under runs/
or a folder): how ``manim scenes/NAME.py`` is told."""
SET_ENV = "NNREEL_SET"
"""Environment variable with scene options when none are given, e.g.
``NNREEL_SET="image=3 layers=conv1_1,pool1"``; split into words as a shell splits them, so a
value with spaces is quoted: ``NNREEL_SET="image='my digit.png'"`` (``options_text``)."""
YES = ("1", "yes", "true", "on")
NO = ("0", "no", "false", "off")


class OptionValueError(ValueError):
    """A value an option refuses; the message says what it wants instead."""


@dataclass(frozen=True)
class Option:
    """What every kind shares: the value used when the user gives none, and one line of help."""

    default: Any
    help: str
    kind: ClassVar[str] = "text"

    def parse(self, value: object) -> Any:
        """The checked value of ``value`` (text, or a Python value), or ``OptionValueError``."""
        return str(value)

    def describe(self) -> str:
        """The values this option takes, in words: 'a number > 0', 'viridis | greens'."""
        return "text"

    def shown_default(self) -> str:
        """The default as the listing prints it ('auto' when a scene decides)."""
        if self.default is None:
            return "auto"
        if isinstance(self.default, bool):
            return "yes" if self.default else "no"
        if isinstance(self.default, list | tuple):
            return ",".join(map(str, self.default)) or "(none)"
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)


@dataclass(frozen=True)
class Choice(Option):
    """One of a few words (``or_index``: or a whole number ≥ 0, e.g. an input channel)."""

    choices: tuple[str, ...] = ()
    or_index: bool = False
    kind: ClassVar[str] = "choice"

    def parse(self, value: object) -> str | int:
        text = str(value).strip()
        if text in self.choices:
            return text
        number = _number(value) if self.or_index else None
        if number is not None and number.is_integer() and number >= 0:
            return int(number)
        raise OptionValueError(f"use {self.describe()}")

    def describe(self) -> str:
        return " | ".join(self.choices) + (" | an index ≥ 0" if self.or_index else "")


@dataclass(frozen=True)
class Flag(Option):
    """Yes or no: ``1/0``, ``yes/no``, ``true/false``, ``on/off``, or a Python bool."""

    kind: ClassVar[str] = "flag"

    def parse(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in YES or text in NO:
            return text in YES
        raise OptionValueError(f"use {self.describe()}")

    def describe(self) -> str:
        return "yes | no"


@dataclass(frozen=True)
class Number(Option):
    """A number within a range: ``above``/``below`` are open bounds, ``at_least``/``at_most``
    closed ones; ``whole`` asks for an integer. The default may be None (the scene decides)."""

    above: float | None = None
    at_least: float | None = None
    below: float | None = None
    at_most: float | None = None
    whole: bool = False
    kind: ClassVar[str] = "number"

    def parse(self, value: object) -> float | int:
        number = _number(value)
        if number is None or (self.whole and not number.is_integer()) or not self.contains(number):
            raise OptionValueError(f"give {self.describe()}")
        return int(number) if self.whole else number

    def contains(self, number: float) -> bool:
        return not (
            (self.above is not None and number <= self.above)
            or (self.at_least is not None and number < self.at_least)
            or (self.below is not None and number >= self.below)
            or (self.at_most is not None and number > self.at_most)
        )

    def describe(self) -> str:
        bounds = [
            f"{sign} {bound:g}"
            for sign, bound in (
                (">", self.above),
                ("≥", self.at_least),
                ("<", self.below),
                ("≤", self.at_most),
            )
            if bound is not None
        ]
        noun = "a whole number" if self.whole else "a number"
        return " ".join([noun, " and ".join(bounds)]) if bounds else noun


@dataclass(frozen=True)
class Names(Option):
    """Comma-separated names (``conv1_1,pool1``), or a Python list of them; empty gives []."""

    kind: ClassVar[str] = "names"

    def parse(self, value: object) -> list[str]:
        if isinstance(value, str):
            return names(value)
        if not isinstance(value, Iterable):
            raise OptionValueError(f"give {self.describe()}")
        return [str(item).strip() for item in value if str(item).strip()]

    def describe(self) -> str:
        return "names, comma-separated"


@dataclass(frozen=True)
class Image(Option):
    """A probe image by its index (a whole number ≥ 0), or any image file by its path (the
    scene shows it through the run's stored model; see ``ownimage``)."""

    kind: ClassVar[str] = "image"

    def parse(self, value: object) -> int | Path:
        if isinstance(value, Path):
            return value.expanduser()
        number = _number(value)
        if number is not None:
            if number.is_integer() and number >= 0:
                return int(number)
            raise OptionValueError(f"give {self.describe()}")
        text = str(value).strip()
        if not text:
            raise OptionValueError(f"give {self.describe()}")
        return Path(text).expanduser()

    def describe(self) -> str:
        return "an index ≥ 0 | an image file"


PACES = {"readable": 1.0, "brisk": 0.5}
"""Named paces: ``readable`` (the default) gives a viewer time to read every caption (at most
17 characters a second, 1.5 s at least) and about 3 s on each layer or idea; ``brisk`` is the
README-GIF pace, twice as fast on purpose (a GIF has no captions to read)."""


@dataclass(frozen=True)
class Pace(Number):
    """How fast a scene plays: a factor on every hold and transition (2 is twice as slow), or
    one of the named ``PACES``."""

    kind: ClassVar[str] = "pace"

    def parse(self, value: object) -> float:
        text = str(value).strip().lower()
        if text in PACES:
            return PACES[text]
        try:
            return float(super().parse(value))
        except OptionValueError:
            raise OptionValueError(f"give {self.describe()}") from None

    def describe(self) -> str:
        return f"{super().describe()} | {' | '.join(PACES)}"

    def shown_default(self) -> str:
        named = [name for name, factor in PACES.items() if factor == self.default]
        return named[0] if named else super().shown_default()


KINDS: dict[str, type[Option]] = {
    cls.__name__: cls for cls in (Option, Choice, Flag, Number, Names, Pace, Image)
}
"""The kinds a scene may declare, by the name it calls them."""

PACE: dict[str, Option] = {
    "pace": Pace(
        1.0,
        "scales every hold and transition: 1 (readable) leaves time to read, brisk is 0.5",
        above=0,
        at_most=10,
    ),
}
"""The option every scene takes (``RunScene`` adds it; the catalog lists it for every scene)."""
REPLAY: dict[str, Option] = {
    "seconds": Number(16.0, "seconds for each replay of training", above=0),
}
"""The option of every scene that replays a 2-D run's training (fitting, neurons, weights)."""
LOOK: dict[str, Option] = {
    "theme": Choice(
        "dark", "colours: dark for video, light for slides and print", choices=("dark", "light")
    ),
    "layout": Choice(
        "video",
        "type sizes: video (1080p, slides) or gif (legible in a 640 px README GIF)",
        choices=("video", "gif"),
    ),
}
"""How a scene looks (``engine.scenekit.palette``)."""
EVERY_SCENE: dict[str, Option] = {**LOOK, **PACE}
"""Options every scene takes without declaring them: ``RunScene`` and the catalog add them."""
GROUPS: dict[str, dict[str, Option]] = {"REPLAY": REPLAY, "LOOK": LOOK, "PACE": PACE}
"""Option groups a scene may spread into its own (``**REPLAY``), by name."""


def names(text: str) -> list[str]:
    """Comma-separated names → a list, blanks dropped: ``"conv1_1, pool1"`` → two names."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _number(value: object) -> float | None:
    """A finite number from text or a Python number (not a bool), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def assignments(items: Iterable[str] | str) -> dict[str, str]:
    """``["image=3", "layers=a,b"]`` (or ``"image=3 layers=a,b"``) → ``{"image": "3", ...}``.

    Text is split into words as a POSIX shell splits them, so quotes keep a value with spaces
    whole (``image='my digit.png'``); list items are whole already (the shell split them)."""
    given: dict[str, str] = {}
    for item in _words(items) if isinstance(items, str) else items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise NnreelError(f"Scene option {item!r} needs a value: {key.strip() or 'KEY'}=VALUE.")
        given[key.strip()] = raw
    return given


def options_text(options: Mapping[str, object]) -> str:
    """``options`` as text ``assignments`` reads back unchanged (for ``$NNREEL_SET``, and for
    messages a user copies): each value quoted where a shell would need it."""
    return " ".join(f"{key}={shlex.quote(_text(value))}" for key, value in options.items())


def _text(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:  # an unclosed quote
        raise NnreelError(
            f"Scene options {text!r} have a quote that is not closed: quote a whole value, "
            "e.g. image='my digit.png'."
        ) from None


def given_options(options: Mapping[str, object] | None) -> Mapping[str, object]:
    """The options a scene is given: ``options``, else those in ``$NNREEL_SET``."""
    return options if options is not None else assignments(os.environ.get(SET_ENV, ""))


def parse_options(spec: Mapping[str, Option], given: Mapping[str, object] | str) -> dict[str, Any]:
    """The scene's settings: each option's default, replaced by the checked value of what the
    user gave (``"image=3 layers=a,b"``, or a mapping of names to text or Python values)."""
    values = {key: option.default for key, option in spec.items()}
    for key, value in (assignments(given) if isinstance(given, str) else given).items():
        if key not in spec:
            raise UnknownNameError("scene option", key, spec)
        try:
            values[key] = spec[key].parse(value)
        except OptionValueError as exc:
            raise NnreelError(
                f"Scene option {key}={value!r} is not valid: {exc} ({spec[key].help})."
            ) from None
    return values
