"""MNIST-format datasets read straight from IDX files: mnist, fashion-mnist and mnist-test.

torchvision's ``MNIST`` class only accepts all four files, unpacked, under ``root/MNIST/raw``,
and its ``read_image_file`` opens no gzip, checks with ``assert`` (gone under ``python -O``) and
accepts truncated files. The real test split in ``../shared/data/mnist`` is two gzipped files in a
flat folder, so the files are read here by a strict reader with messages that name the file.
Downloading is still torchvision's, which fetches into ``root/MNIST/raw``.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets

from engine.data.core import Data, check_labels, subset
from engine.errors import DataError

TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DIGIT_CLASSES = [str(d) for d in range(10)]
_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08


def read_idx(path: str | Path, ndim: int) -> torch.Tensor:
    """An unsigned-byte IDX file (gzipped or not) with ``ndim`` dimensions, as a uint8 tensor.

    Anything else — a foreign file, another element type, a truncated or padded body — is a
    DataError naming the file, so a half-finished download is not mistaken for data.
    """
    path = Path(path)
    raw = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:3] != bytes([0, 0, _UBYTE]) or raw[3] != ndim:
        raise DataError(
            f"{path} is not an IDX file of {ndim}-D unsigned bytes (it starts with "
            f"{raw[:4].hex() or 'nothing'}, expected 000008{ndim:02x}). Replace it with the "
            "original file."
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(
            f"{path} is {state}: {len(raw)} bytes where its header {shape} needs {expected}. "
            "Download or copy it again."
        )
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=header).reshape(shape).copy())


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic number."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"Cannot read {path}: {exc}. Download or copy it again.") from None


def read_split(images: Path, labels: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as uint8 [N, 1, 28, 28] images and int64 labels in 0–9."""
    x, y = read_idx(images, 3), read_idx(labels, 1)
    if len(x) != len(y):
        raise DataError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels.")
    return x.unsqueeze(1), check_labels(y, 10, labels)


def find_files(folders: list[Path], names: tuple[str, ...]) -> list[Path] | None:
    """The first folder's copies of all ``names`` (each plain or ``.gz``), or None."""
    for folder in folders:
        found = [_either(folder / name) for name in names]
        if all(found):
            return found
    return None


def _either(path: Path) -> Path | None:
    """``path`` or ``path.gz``, whichever exists (the unpacked file first)."""
    gz = path.with_name(path.name + ".gz")
    return next((p for p in (path, gz) if p.is_file()), None)


def _files(
    root: Path, dataset: type[datasets.MNIST], names: tuple[str, ...], download: bool
) -> list[Path]:
    """Locate ``names`` in torchvision's layout or flat in ``root``; download if allowed."""
    raw = root / dataset.__name__ / "raw"
    folders = [raw, root]
    found = find_files(folders, names)
    if found is None and download:
        try:
            dataset(str(root), train=False, download=True)
        except (OSError, RuntimeError) as exc:
            raise DataError(
                _missing(dataset, names, folders, f"Downloading failed: {exc}")
            ) from None
        found = find_files(folders, names)
    if found is None:
        raise DataError(_missing(dataset, names, folders))
    return found


def _missing(
    dataset: type[datasets.MNIST], names: tuple[str, ...], folders: list[Path], failure: str = ""
) -> str:
    """Which files are expected where, and the two ways to get them."""
    title = dataset.__name__
    listed = ", ".join(names)
    where = " or ".join(f"{f}/" for f in folders)
    failed = f" {failure}." if failure else ""
    return (
        f"{title} files not found: expected {listed} (each may end in .gz) in {where}.{failed} "
        f"Pass --download (download=True) to fetch them from {dataset.mirrors[0]}, or copy the "
        "files into one of those folders."
    )


def _idx_data(
    name: str,
    dataset: type[datasets.MNIST],
    classes: list[str],
    root: Path,
    download: bool,
    seed: int,
    train_size: int | None,
    val_size: int | None,
) -> Data:
    """The official train split for training and the test split for validation."""
    files = _files(root, dataset, TRAIN_FILES + TEST_FILES, download)
    x_train, y_train = subset(*read_split(*files[:2]), train_size, seed, 0, f"{name} train")
    x_val, y_val = subset(*read_split(*files[2:]), val_size, seed, 1, f"{name} val")
    return Data(name, "image", x_train, y_train, x_val, y_val, classes, {})


def load_mnist(
    *, root: Path, download: bool, seed: int, train_size: int | None, val_size: int | None
) -> Data:
    """MNIST: 60,000 training and 10,000 test digits."""
    return _idx_data(
        "mnist", datasets.MNIST, DIGIT_CLASSES, root, download, seed, train_size, val_size
    )


def load_fashion_mnist(
    *, root: Path, download: bool, seed: int, train_size: int | None, val_size: int | None
) -> Data:
    """Fashion-MNIST: Zalando's clothing photos in MNIST's format."""
    classes = list(datasets.FashionMNIST.classes)
    return _idx_data(
        "fashion-mnist", datasets.FashionMNIST, classes, root, download, seed, train_size, val_size
    )


def load_mnist_test(
    *, root: Path, download: bool, seed: int, train_size: int | None, val_size: int | None
) -> Data:
    """The 10,000 real MNIST test digits split (seeded) into training and validation parts.

    This is what a machine with only the test files (like ``../shared/data/mnist``) can train on.
    """
    train_size = 8000 if train_size is None else train_size
    val_size = 2000 if val_size is None else val_size
    x, y = read_split(*_files(root, datasets.MNIST, TEST_FILES, download))
    if train_size + val_size > len(y):
        raise DataError(
            f"mnist-test: train_size {train_size} + val_size {val_size} exceed the {len(y)} "
            "test digits."
        )
    order = torch.from_numpy(np.random.default_rng([seed, 0]).permutation(len(y)))
    val = order[:val_size].sort().values
    train = order[val_size : val_size + train_size].sort().values
    return Data("mnist-test", "image", x[train], y[train], x[val], y[val], DIGIT_CLASSES, {})
