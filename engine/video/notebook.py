"""Showing a rendered video inline when nnreel runs in a Jupyter kernel. IPython is not a
dependency: it is only looked at when it is already running (a kernel imported it)."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.errors import NnreelError


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (an IPython shell with a kernel)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def show(path: Path, display: bool | None = None) -> None:
    """Show the video (MP4, embedded with player controls) or GIF at ``path`` as the cell's
    output: when ``display`` is True, or when it is None and this is a notebook."""
    if display is False or (display is None and not in_notebook()):
        return
    try:
        from IPython.display import Image, Video
        from IPython.display import display as output
    except ImportError:
        raise NnreelError("Showing a video inline needs IPython: pip install ipython.") from None
    if path.suffix == ".gif":
        output(Image(filename=str(path)))
    else:
        output(Video(str(path), embed=True, html_attributes="controls loop"))
