"""CIFAR-10 and SVHN, read and downloaded by torchvision's own dataset classes.

torchvision checks every file's md5 before reading it. That check is kept: CIFAR-10's batches
are pickles, and the md5 is what makes unpickling them safe. The expected files and sums are read
from the torchvision classes at call time, so the message lists exactly what torchvision wants.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torchvision import datasets
from torchvision.datasets.utils import check_integrity

from engine.data.core import Data, check_labels, subset
from engine.data.mnist import DIGIT_CLASSES
from engine.errors import DataError

T = TypeVar("T")


def load_cifar10(
    *, root: Path, download: bool, seed: int, train_size: int | None, val_size: int | None
) -> Data:
    """CIFAR-10: 50,000 training and 10,000 test photos, 32×32 RGB, in ten classes."""
    cls = datasets.CIFAR10
    folder = root / cls.base_folder
    entries = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    expected = {folder / name: md5 for name, md5 in entries}
    how = f"from {cls.url} and unpack it"
    parts, classes = [], []
    for train, size, stream in ((True, train_size, 0), (False, val_size, 1)):
        ds = _open(
            partial(cls, str(root), train=train, download=download),
            "CIFAR-10",
            expected,
            how,
            download,
        )
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
        y = check_labels(torch.tensor(ds.targets), 10, folder)
        parts.append(subset(x, y, size, seed, stream, f"cifar10 {'train' if train else 'val'}"))
        classes = list(ds.classes)
    (x_train, y_train), (x_val, y_val) = parts
    return Data("cifar10", "image", x_train, y_train, x_val, y_val, classes, {})


def load_svhn(
    *, root: Path, download: bool, seed: int, train_size: int | None, val_size: int | None
) -> Data:
    """SVHN: 73,257 training and 26,032 test house-number digits, 32×32 RGB.

    The .mat files label the digit 0 as 10; torchvision maps it back to 0, and ``check_labels``
    makes sure of it.
    """
    cls = datasets.SVHN
    expected = {root / cls.split_list[s][1]: cls.split_list[s][2] for s in ("train", "test")}
    how = f"from {cls.split_list['train'][0].rsplit('/', 1)[0]}/"
    parts = []
    for split, size, stream in (("train", train_size, 0), ("test", val_size, 1)):
        ds = _open(
            partial(cls, str(root), split=split, download=download), "SVHN", expected, how, download
        )
        x = torch.from_numpy(np.ascontiguousarray(ds.data))  # torchvision made it NCHW
        y = check_labels(torch.from_numpy(np.atleast_1d(ds.labels)), 10, root / ds.filename)
        parts.append(subset(x, y, size, seed, stream, f"svhn {split}"))
    (x_train, y_train), (x_val, y_val) = parts
    return Data("svhn", "image", x_train, y_train, x_val, y_val, DIGIT_CLASSES, {})


def _open(
    make: Callable[[], T], title: str, expected: dict[Path, str], how: str, download: bool
) -> T:
    """Build a torchvision dataset, turning its "not found or corrupted" into a DataError."""
    try:
        return make()
    except (OSError, RuntimeError) as exc:
        raise DataError(_explain(title, expected, how, download, exc)) from None


def _explain(
    title: str, expected: dict[Path, str], how: str, download: bool, exc: Exception
) -> str:
    """Name the files expected where, those missing or failing torchvision's md5, and what to do."""
    folder = next(iter(expected)).parent
    missing = [p.name for p in expected if not p.is_file()]
    corrupt = [p.name for p, md5 in expected.items() if p.is_file() and not check_integrity(p, md5)]
    parts = [
        f"{title} could not be loaded: expected {', '.join(p.name for p in expected)} in {folder}/."
    ]
    if missing and len(missing) < len(expected):
        parts.append(f"Missing: {', '.join(missing)}.")
    if corrupt:
        parts.append(
            f"Failing torchvision's md5 check (damaged or another version): {', '.join(corrupt)}; "
            "delete them and fetch them again."
        )
    if download:
        parts.append(f"Downloading failed: {exc}.")
    parts.append(
        f"Pass --download (download=True) to fetch {title} {how}, or copy the files there."
    )
    return " ".join(parts)
