"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic import write_cnn_run


@pytest.fixture(scope="session")
def fixed_vgg(tmp_path_factory) -> Path:
    """A slim VGG-16 run written from fixed numbers (no training): the same on every machine,
    so frames rendered from it can be compared with tests/reference/."""
    return write_cnn_run(tmp_path_factory.mktemp("runs") / "fixed-vgg")
