"""engine.data: generated digits, IDX and torchvision formats on disk, planes, conversions."""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import shutil
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image, ImageDraw
from torchvision import datasets

from engine.data import DATASETS, Data, load_data, read_idx
from engine.errors import DataError, UnknownNameError

SHARED_MNIST = Path(__file__).parents[1].parent / "shared/data/mnist"
needs_real_mnist = pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"the real MNIST test split is not at {SHARED_MNIST} (see shared/data/README.md)",
)


def small_digits(seed: int = 0, **kwargs) -> Data:
    return load_data("digits", seed=seed, train_size=300, val_size=100, **kwargs)


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    """An unsigned-byte IDX file exactly as MNIST ships them."""
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    body = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(body) if gz else body)
    return path


def write_mnist(folder: Path, n_train: int, n_test: int, gz: bool) -> dict[str, np.ndarray]:
    """The four MNIST files with random content; returns what was written."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        arrays[f"{split}-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}-labels-idx1-ubyte"] = rng.integers(0, 10, n, dtype=np.uint8)
    for name, array in arrays.items():
        write_idx(folder / (name + ".gz" if gz else name), array, gz)
    return arrays


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --- digits -------------------------------------------------------------------------------


def test_digits_are_deterministic_per_seed_and_differ_across_seeds():
    a, b, c = small_digits(1), small_digits(1), small_digits(2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert torch.equal(a.x_val, b.x_val)
    assert not torch.equal(a.x_train, c.x_train)
    assert not torch.equal(a.x_train[: len(a.x_val)], a.x_val)  # independent streams


def test_digits_shapes_dtypes_and_balanced_labels():
    data = small_digits()
    assert data.kind == "image" and data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert data.x_train.shape == (300, 1, 28, 28) and data.x_val.shape == (100, 1, 28, 28)
    assert data.x_train.dtype == torch.uint8 and data.y_train.dtype == torch.int64
    assert data.classes == [str(d) for d in range(10)]
    for y in (data.y_train, data.y_val):
        counts = torch.bincount(y, minlength=10)
        assert len(counts) == 10 and counts.min() == counts.max()


def test_digits_are_white_strokes_on_black():
    x = small_digits().x_train.float()
    assert (x.amax((1, 2, 3)) >= 180).all()  # every image has bright ink
    assert x[..., :2, :].mean() < 10 and x[..., -2:, :].mean() < 10  # dark margins, as MNIST
    ink = (x > 128).float().mean((1, 2, 3))
    assert ink.min() > 0.01 and ink.max() < 0.45  # strokes, not blobs or specks


def test_digits_images_carry_their_labels():
    """Nearest class mean separates the classes: images and labels really belong together."""
    data = load_data("digits", seed=3, train_size=2000, val_size=500)
    x, xv = data.to_float(data.x_train).flatten(1), data.to_float(data.x_val).flatten(1)
    means = torch.stack([x[data.y_train == k].mean(0) for k in range(10)])
    accuracy = (torch.cdist(xv, means).argmin(1) == data.y_val).float().mean()
    assert accuracy > 0.6


def test_to_float_and_channel_stats():
    data = small_digits()
    x = data.to_float(data.x_val)
    assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
    assert torch.equal(x * 255, data.x_val.float())
    mean, std = data.channel_stats()
    whole = data.x_train.double() / 255
    assert mean == pytest.approx([whole.mean().item()], rel=1e-9)
    assert std == pytest.approx([whole.std(unbiased=False).item()], rel=1e-9)


def test_image_size_and_channels_conversions():
    grey = small_digits()
    rgb = small_digits(image_size=32, channels=3)
    assert rgb.input_shape == (3, 32, 32) and rgb.x_train.dtype == torch.uint8
    assert torch.equal(rgb.x_train[:, 0], rgb.x_train[:, 1])
    assert torch.equal(rgb.x_train[:, 0], rgb.x_train[:, 2])
    # an antialiased resize keeps the overall brightness of each image
    brightness = grey.x_train.float().mean((1, 2, 3)), rgb.x_train.float().mean((1, 2, 3))
    assert torch.allclose(*brightness, atol=2.0)
    back = small_digits(image_size=28, channels=1)
    assert torch.equal(back.x_train, grey.x_train)


def test_rgb_to_grey_uses_luminance(tmp_path, monkeypatch):
    make_cifar(tmp_path, monkeypatch)
    grey = load_data("cifar10", root=tmp_path, channels=1)
    rgb = load_data("cifar10", root=tmp_path).x_train.float()
    expected = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).round()
    assert grey.input_shape == (1, 32, 32)
    assert torch.equal(grey.x_train[:, 0].float(), expected)


def test_params_rebuild_identical_data_and_are_json():
    for data in (
        small_digits(4, image_size=32, channels=3),
        load_data("spiral", seed=5, train_size=100, val_size=20, noise=0.05),
    ):
        params = json.loads(json.dumps(data.params))
        again = load_data(**params)
        assert torch.equal(again.x_train, data.x_train) and torch.equal(again.x_val, data.x_val)
        assert torch.equal(again.y_train, data.y_train) and again.extent == data.extent
    assert small_digits(4).params["train_size"] == 300


# --- real MNIST files and the IDX format ---------------------------------------------------


@needs_real_mnist
def test_real_mnist_test_split_reads():
    images = read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz", 3)
    labels = read_idx(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz", 1)
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    assert int(labels[0]) == 7 and set(labels.tolist()) == set(range(10))


@needs_real_mnist
def test_mnist_test_dataset_splits_the_real_digits(tmp_path):
    data = load_data("mnist-test", root=SHARED_MNIST, seed=1)
    assert data.x_train.shape == (8000, 1, 28, 28) and data.x_val.shape == (2000, 1, 28, 28)
    assert data.y_train.min() == 0 and data.y_train.max() == 9
    labels = read_idx(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz", 1)
    # train and val are disjoint parts of the 10,000: together they hold every label once
    both = torch.cat([data.y_train, data.y_val])
    assert torch.equal(torch.bincount(both, minlength=10), torch.bincount(labels, minlength=10))
    # torchvision's layout, root/MNIST/raw, gives the same split
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in SHARED_MNIST.glob("t10k-*"):
        shutil.copy(f, raw / f.name)
    same = load_data("mnist-test", root=tmp_path, seed=1)
    assert torch.equal(same.x_val, data.x_val) and torch.equal(same.y_train, data.y_train)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_four_idx_files_in_either_layout(tmp_path, gz):
    folder = tmp_path / "MNIST" / "raw" if gz else tmp_path
    arrays = write_mnist(folder, 30, 12, gz)
    data = load_data("mnist", root=tmp_path)
    assert data.x_train.shape == (30, 1, 28, 28) and data.x_val.shape == (12, 1, 28, 28)
    assert np.array_equal(data.x_train[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(data.y_val.numpy(), arrays["t10k-labels-idx1-ubyte"])
    sub = load_data("mnist", root=tmp_path, train_size=10, val_size=5, seed=2)
    rows = [
        np.flatnonzero((arrays["train-images-idx3-ubyte"] == x.numpy()).all((1, 2)))[0]
        for x in sub.x_train[:, 0]
    ]
    assert sorted(rows) == rows and len(set(rows)) == 10  # a seeded subset in original order
    assert sub.y_train.tolist() == arrays["train-labels-idx1-ubyte"][rows].tolist()
    assert torch.equal(
        sub.x_train, load_data("mnist", root=tmp_path, train_size=10, val_size=5, seed=2).x_train
    )


def test_truncated_idx_file_names_the_file(tmp_path):
    path = write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte is truncated"):
        read_idx(path, 3)
    gz = tmp_path / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 9]) + bytes(9))[:-6])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz"):
        read_idx(gz, 1)


def test_foreign_idx_file_names_the_file(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_text("<html>404 Not Found</html>")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte is not an IDX file"):
        read_idx(path, 1)
    images = write_idx(tmp_path / "images", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="not an IDX file of 1-D"):
        read_idx(images, 1)  # an image file where labels were expected


def test_mnist_labels_outside_0_to_9_are_rejected(tmp_path):
    write_mnist(tmp_path, 4, 4, gz=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 12, 3]))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte holds labels from 0 to 12"):
        load_data("mnist", root=tmp_path)


# --- torchvision datasets on disk ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "files"),
    [
        ("mnist", ["MNIST/raw", "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
        ("mnist-test", ["MNIST/raw", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
        ("fashion-mnist", ["FashionMNIST/raw", "train-labels-idx1-ubyte"]),
        ("cifar10", ["cifar-10-batches-py", "data_batch_1", "data_batch_5", "test_batch"]),
        ("svhn", ["train_32x32.mat", "test_32x32.mat"]),
    ],
)
def test_missing_files_name_what_is_expected_where(tmp_path, name, files):
    with pytest.raises(DataError) as info:
        load_data(name, root=tmp_path / "nowhere")
    message = str(info.value)
    assert "--download" in message and str(tmp_path / "nowhere") in message
    for expected in files:
        assert expected in message


def test_failed_download_is_one_data_error(tmp_path, monkeypatch):
    def offline(self):
        raise URLError("no network")

    monkeypatch.setattr(datasets.MNIST, "download", offline)
    with pytest.raises(DataError, match=r"Downloading failed: .*no network"):
        load_data("mnist", root=tmp_path, download=True)


def make_cifar(root: Path, monkeypatch) -> dict[str, np.ndarray]:
    """Tiny CIFAR-10 python batches. torchvision md5-checks every batch before unpickling it;
    the check stays on, pointed at these files' own sums, as a user's real files would be."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        batch = {"data": data, "labels": rng.integers(0, 10, 4).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
        written[name] = data
    names = [f"class{i}" for i in range(10)]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    sums = {name: md5(folder / name) for name in [*written, "batches.meta"]}
    monkeypatch.setattr(datasets.CIFAR10, "train_list", [[n, sums[n]] for n in list(sums)[:5]])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", sums["test_batch"]]])
    meta = {"filename": "batches.meta", "key": "label_names", "md5": sums["batches.meta"]}
    monkeypatch.setattr(datasets.CIFAR10, "meta", meta)
    return written


def test_cifar10_reads_python_batches_as_nchw(tmp_path, monkeypatch):
    written = make_cifar(tmp_path, monkeypatch)
    data = load_data("cifar10", root=tmp_path)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_val.shape == (4, 3, 32, 32)
    assert data.x_train.dtype == torch.uint8 and data.classes[3] == "class3"
    # CIFAR rows are 1024 red, 1024 green, 1024 blue values, each row-major
    assert np.array_equal(data.x_val.numpy(), written["test_batch"].reshape(4, 3, 32, 32))


def test_cifar10_with_a_damaged_batch_says_so(tmp_path, monkeypatch):
    make_cifar(tmp_path, monkeypatch)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"md5 check .*: data_batch_3;"):
        load_data("cifar10", root=tmp_path)


def test_svhn_label_10_becomes_digit_0(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 32, 3, 4), dtype=np.uint8)  # SVHN's H, W, C, N order
    labels = np.array([[10], [1], [10], [9]], dtype=np.uint8)
    split_list = {}
    for split in ("train", "test"):
        path = tmp_path / f"{split}_32x32.mat"
        scipy.io.savemat(path, {"X": images, "y": labels})
        split_list[split] = ["http://example.invalid/" + path.name, path.name, md5(path)]
    monkeypatch.setattr(datasets.SVHN, "split_list", split_list)
    data = load_data("svhn", root=tmp_path)
    assert data.y_train.tolist() == [0, 1, 0, 9] and data.y_val.tolist() == [0, 1, 0, 9]
    assert data.x_train.shape == (4, 3, 32, 32)
    assert np.array_equal(data.x_train[2, 1].numpy(), images[:, :, 1, 2])


# --- 2-D planes ---------------------------------------------------------------------------


def test_ring_matches_seed_002():
    data = load_data("ring", seed=7)
    assert data.kind == "plane" and data.classes == ["disc", "ring"]
    assert len(data.y_train) == 3800 and len(data.y_val) == 200
    assert data.x_train.dtype == torch.float32 and data.extent == (-1.5, 1.5, -1.5, 1.5)
    x, y = torch.cat([data.x_train, data.x_val]), torch.cat([data.y_train, data.y_val])
    assert torch.bincount(y).tolist() == [2000, 2000]
    radius = x[y == 1].double().norm(dim=1)  # |0.7 (1 + N(0, 0.3))|
    assert radius.mean() == pytest.approx(0.7, abs=0.015)
    assert radius.std() == pytest.approx(0.21, abs=0.015)
    disc = x[y == 0].double()
    assert disc.mean(0).abs().max() < 0.03
    assert disc.std(0).tolist() == pytest.approx([0.3, 0.3], abs=0.015)


@pytest.mark.parametrize("name", ["moons", "spiral", "xor", "checkerboard"])
def test_planes_are_coherent_two_class_clouds_in_the_extent(name):
    data = load_data(name, seed=3)
    assert data.input_shape == (2,) and data.num_classes == 2
    assert torch.bincount(data.y_train).min() > 0.4 * len(data.y_train)
    xmin, xmax, ymin, ymax = data.extent
    inside = (
        (data.x_train[:, 0] >= xmin)
        & (data.x_train[:, 0] <= xmax)
        & (data.x_train[:, 1] >= ymin)
        & (data.x_train[:, 1] <= ymax)
    )
    assert inside.float().mean() > 0.98
    # labels follow the shape: a point's nearest training neighbour mostly shares its class
    nearest = torch.cdist(data.x_val, data.x_train).argmin(1)
    assert (data.y_train[nearest] == data.y_val).float().mean() > 0.85
    assert not torch.equal(load_data(name, seed=4).x_train, data.x_train)


def test_xor_and_checkerboard_label_rules():
    xor = load_data("xor", noise=0.0)
    x, y = xor.x_train, xor.y_train
    assert torch.equal(y, (x[:, 0] * x[:, 1] < 0).long())
    board = load_data("checkerboard", noise=0.0, cells=2)
    x, y = board.x_train, board.y_train
    assert torch.equal(y, (x[:, 0] * x[:, 1] < 0).long())  # 2×2 cells are xor's quadrants


def make_mask(path: Path, alpha: bool) -> Path:
    """A 40×20 image whose top-left quarter is the shape: dark on white, or opaque on clear."""
    if alpha:
        img = Image.new("RGBA", (40, 20), (255, 255, 255, 0))
        ImageDraw.Draw(img).rectangle((0, 0, 19, 9), fill=(255, 255, 255, 255))
    else:
        img = Image.new("L", (40, 20), 255)
        ImageDraw.Draw(img).rectangle((0, 0, 19, 9), fill=0)
    img.save(path)
    return path


@pytest.mark.parametrize("alpha", [False, True])
def test_mask_labels_follow_the_image(tmp_path, alpha):
    path = make_mask(tmp_path / "shape.png", alpha)
    data = load_data("mask", path=str(path))
    assert data.extent == (-1.5, 1.5, -0.75, 0.75)  # the image's 2:1 aspect is kept
    x, y = torch.cat([data.x_train, data.x_val]), torch.cat([data.y_train, data.y_val])
    assert torch.equal(y, ((x[:, 0] < 0) & (x[:, 1] > 0)).long())  # image row 0 is the top
    assert 0.2 < y.float().mean() < 0.3
    flipped = load_data("mask", path=str(path), invert=True)
    assert torch.equal(flipped.y_train, 1 - data.y_train)


def test_mask_without_a_readable_image_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="needs an image"):
        load_data("mask")
    with pytest.raises(DataError, match=r"missing\.png"):
        load_data("mask", path=str(tmp_path / "missing.png"))
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(DataError, match=r"notes\.png"):
        load_data("mask", path=str(text))
    Image.new("L", (8, 8), 255).save(tmp_path / "blank.png")
    with pytest.raises(DataError, match="all outside"):
        load_data("mask", path=str(tmp_path / "blank.png"))


# --- names and settings --------------------------------------------------------------------


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError) as info:
        load_data("digts")
    message = str(info.value)
    assert "Did you mean 'digits'?" in message
    assert all(name in message for name in DATASETS)
    with pytest.raises(UnknownNameError, match="Valid moons options: extent, noise"):
        load_data("moons", noisy=0.1)
    with pytest.raises(DataError, match="takes no options"):
        load_data("digits", noise=0.1)


def test_bad_sizes_and_image_settings_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="train_size"):
        load_data("ring", train_size=0)
    with pytest.raises(DataError, match="image_size and channels apply to images"):
        load_data("ring", image_size=32)
    with pytest.raises(DataError, match="Cannot convert 1-channel images to 2"):
        load_data("digits", train_size=10, val_size=0, channels=2)
    write_mnist(tmp_path, 5, 5, gz=False)
    with pytest.raises(DataError, match="asked for 6 samples, but only 5 exist"):
        load_data("mnist", root=tmp_path, train_size=6)
