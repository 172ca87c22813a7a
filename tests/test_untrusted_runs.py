"""A run folder is untrusted input (downloaded, shared by a student): tampered manifests and
stream files get one ``RunError`` message, and nothing in a run makes nnreel read, write or
delete outside it. Ends with a property-based fuzz test of both."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from synthetic import write_chain_plane_run
from videos import scene_module

from engine.cli import main as cli
from engine.cli.info import describe
from engine.errors import NnreelError, RunError
from engine.scenekit.options import parse_options
from engine.store import Run, RunWriter, StreamInfo

MARKER = 4242
"""What the files outside the run hold: a read that returns it read outside the run."""


def write_small_run(folder: Path) -> Path:
    """A finished run with scalars, activations, a once-only stream and an act-max stream."""
    streams = [
        StreamInfo("train/loss", "float32", (), 6, cadence="every:1"),
        StreamInfo("acts/conv1", "float16", (2, 3, 4), 3, cadence="log:3", meta={"layer": "conv1"}),
        StreamInfo("probe/labels", "int64", (3,), 1, cadence="once"),
    ]
    header = {
        "model": {"arch": "smallcnn", "input_shape": [1, 8, 8], "num_classes": 3, "config": {}},
        "dataset": {"name": "digits", "kind": "image", "classes": ["a", "b", "c"]},
        "hparams": {"optimizer": "sgd", "lr": 0.1, "batch_size": 4, "seed": 0},
        "layers": [
            {"name": "conv1", "kind": "conv", "output_shape": [3, 4], "params": 9, "macs": 99}
        ],
        "progress": {"step": 0, "epoch": 0, "epochs": 1, "steps_per_epoch": 5, "total_steps": 5},
    }
    rng = np.random.default_rng(0)
    with RunWriter.create(folder, header=header, streams=streams) as writer:
        writer.write_many("train/loss", np.arange(1, 5), rng.random(4, dtype=np.float32))
        writer.write_many("acts/conv1", np.array([0, 2]), rng.random((2, 2, 3, 4)))
        writer.write("probe/labels", 0, np.array([0, 1, 2]))
        writer.add_stream(StreamInfo("actmax/conv1/frames", "uint8", (1, 1, 4, 4), 3))
        writer.write_many("actmax/conv1/frames", np.array([0, 8]), np.ones((2, 1, 1, 4, 4)))
        writer.commit(step=4, epoch=0)
        writer.set_status("finished")
    return folder


def plant_victims(outside: Path) -> list[Path]:
    """Files beside the run that a traversal would reach: a stream's data and steps files."""
    outside.mkdir(parents=True, exist_ok=True)
    np.save(outside / "victim.npy", np.full(6, MARKER, np.float32))
    np.save(outside / "victim.steps.npy", np.full(6, MARKER, np.int64))
    return [outside / "victim.npy", outside / "victim.steps.npy"]


def edit_manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


@pytest.fixture
def small_run(tmp_path) -> Path:
    return write_small_run(tmp_path / "run")


# -- path traversal (issue 17 case 1) -------------------------------------------------------------
def test_a_stream_name_leading_out_of_the_run_is_refused_and_nothing_outside_is_touched(
    small_run, tmp_path, capsys
):
    victims = plant_victims(tmp_path / "victim")
    hostile = "actmax/conv1/../../../../victim/victim"

    def rename(manifest):
        entry = manifest["streams"].pop("train/loss")
        manifest["streams"][hostile] = entry

    edit_manifest(small_run, rename)
    with pytest.raises(RunError, match=r"malformed: the stream name .*victim/victim.* '\.\.'"):
        Run(small_run)
    with pytest.raises(RunError, match="malformed"):
        RunWriter.reopen(small_run)
    assert cli(["info", str(small_run)]) == 2
    assert "malformed" in capsys.readouterr().err
    assert all(path.exists() for path in victims)


@pytest.mark.parametrize("link", ["streams/train/loss.npy", "streams/acts", "manifest.json"])
def test_a_symbolic_link_out_of_the_run_is_refused(small_run, tmp_path, link):
    victims = plant_victims(tmp_path / "victim")
    target = {
        "streams/train/loss.npy": victims[0],
        "streams/acts": victims[0].parent,
        "manifest.json": victims[0],
    }[link]
    path = small_run / link
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    path.symlink_to(target)
    with pytest.raises(RunError, match="leads outside the run folder"):
        Run(small_run)
    with pytest.raises(RunError, match="leads outside the run folder"):
        RunWriter.reopen(small_run)
    assert all(path.exists() for path in victims)


def test_overwrite_never_empties_a_folder_that_is_not_a_run(tmp_path):
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    with pytest.raises(RunError, match="not an nnreel run"):
        RunWriter.create(
            folder, header={"model": {"arch": "x"}, "dataset": {}}, streams=[], overwrite=True
        )
    assert (folder / "thesis.tex").read_text() == "years of work"


# -- tampered manifests and files (issue 17 cases 6 and 8) -----------------------------------------
CONV = {"name": "conv1", "kind": "conv", "output_shape": [2, 3, 4], "params": 0, "macs": 0}


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("schema", "1", r"schema is '1', not a whole number"),
        ("streams", [], r"streams is \[\], not an object"),
        ("model", {}, r"model\.arch is None, not a non-empty string"),
        ("status", 3, r"status is 3, not one of"),
        ("layers", [{"name": "x"}], r"layers\[0\]\.kind is None"),
        ("layers", [{**CONV, "activation": 1}], r"layers\[0\]\.activation is 1, not a"),
        ("progress", {"step": -1}, r"progress\.step is -1, below 0"),
        ("checkpoint", {"step": "10"}, r"checkpoint\.file is None"),
    ],
)
def test_a_manifest_with_wrong_types_names_the_field(small_run, capsys, key, value, named):
    edit_manifest(small_run, lambda m: m.__setitem__(key, value))
    with pytest.raises(RunError, match=named):
        Run(small_run)
    assert cli(["info", str(small_run)]) == 2
    err = capsys.readouterr().err
    assert "manifest.json is malformed" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda f: f.update(mesh=5000), r"plane_function\.mesh is 5000, above 1024"),
        (lambda f: f.update(extent=[1, -1, 0, 1]), r"extent is \[1, -1, 0, 1\], an empty"),
        (lambda f: f["layers"][0].update(activation="GELU"), r"activation is 'GELU', not one of"),
        (lambda f: f["layers"][0].update(layer="../../x"), r"layer makes a stream name that"),
        (lambda f: f["layers"][0].update(layer="ghost"), r"'params/ghost', a stream the run lacks"),
        (lambda f: f["layers"].reverse(), r"params/output has shape \[1, 3\].*does not chain up"),
        (lambda f: f.update(layers=[]), r"plane_function\.layers is empty"),
    ],
)
def test_a_tampered_plane_function_names_what_is_wrong(tmp_path, edit, named):
    """A plain MLP's planes are computed from its parameters as its manifest says: a mesh that
    would allocate without bound, an activation nnreel does not compute, a layer that names no
    stream of the run or leads out of it, layers that do not chain up are each refused."""
    folder = write_chain_plane_run(tmp_path / "run")
    edit_manifest(folder, lambda m: edit(m["plane_function"]))
    with pytest.raises(RunError, match=named):
        Run(folder)


def test_a_count_above_the_capacity_is_refused(small_run):
    edit_manifest(small_run, lambda m: m["streams"]["train/loss"].update(count=700))
    with pytest.raises(RunError, match=r"count is 700, above the stream's capacity \(6"):
        Run(small_run)


def with_checkpoint(manifest: dict, counts: dict[str, int]) -> None:
    manifest["checkpoint"] = {"file": "checkpoint.pt", "step": 2, "counts": counts}


def test_a_count_above_what_was_written_reads_as_at_the_last_checkpoint(small_run, capsys):
    """Snapshots 4 and 5 of train/loss are not in its file (their steps are -1), as after a
    power cut that kept a manifest but not what it counts: counting them would show captions
    such as 'After -1 steps'. The run reads as at its checkpoint, and says so."""
    edit_manifest(small_run, lambda m: m["streams"]["train/loss"].update(count=6))
    edit_manifest(small_run, lambda m: with_checkpoint(m, {"train/loss": 2}))
    run = Run(small_run)
    assert run.count("train/loss") == 2 and list(run.steps("train/loss")) == [1, 2]
    assert run.lost == {"train/loss": 4}
    assert run.count("acts/conv1") == 2  # whole streams are read whole
    assert cli(["info", str(small_run)]) == 0
    assert "as at its checkpoint, step 2" in " ".join(capsys.readouterr().err.split())


def test_a_count_above_what_its_checkpoint_left_is_refused(small_run):
    """The snapshots a checkpoint counts were on disk before it was saved: missing, the run
    was damaged or edited."""
    edit_manifest(small_run, lambda m: m["streams"]["train/loss"].update(count=6))
    edit_manifest(small_run, lambda m: with_checkpoint(m, {"train/loss": 5}))
    with pytest.raises(RunError, match=r"loss\.steps\.npy has no snapshot 4, yet the manifest"):
        Run(small_run)


def test_steps_going_back_in_time_are_refused(small_run):
    path = small_run / "streams" / "train" / "loss.steps.npy"
    steps = np.load(path)
    steps[2] = 0
    np.save(path, steps)
    with pytest.raises(RunError, match=r"goes back in time: snapshot 2 is at step 0"):
        Run(small_run)


def test_a_pickled_stream_is_called_a_pickle_and_never_loaded(small_run):
    path = small_run / "streams" / "train" / "loss.npy"
    np.save(path, np.array([{"evil": 1}] * 6, dtype=object), allow_pickle=True)
    with pytest.raises(RunError, match=r"holds Python objects \(a pickle\).*never loads"):
        Run(small_run)


def test_a_scene_option_out_of_range_is_refused_not_clamped():
    """``NNREEL_SET="seconds=-5"`` was silently clamped (issue 17 case 8)."""
    options = scene_module("training").Training.options
    assert parse_options(options, "seconds=2.5")["seconds"] == 2.5
    for text in ("seconds=-5", "seconds=nan", "seconds=inf"):
        with pytest.raises(NnreelError, match=r"seconds=.* is not valid: give a number ≥ 0"):
            parse_options(options, text)


# -- fuzz ------------------------------------------------------------------------------------------
STREAMS = ["train/loss", "acts/conv1", "probe/labels", "actmax/conv1/frames"]
FILES = [f"streams/{name}{suffix}" for name in STREAMS for suffix in (".npy", ".steps.npy")]
MANIFEST_PATHS = [
    ("schema",), ("name",), ("status",), ("message",), ("model",), ("model", "arch"),
    ("model", "input_shape"), ("dataset",), ("dataset", "classes"), ("hparams",),
    ("layers",), ("progress",), ("progress", "step"), ("checkpoint",), ("streams",),
    *[("streams", name, key) for name in STREAMS
      for key in ("dtype", "shape", "capacity", "count", "cadence", "meta")],
]  # fmt: skip
HOSTILE_NAMES = st.one_of(
    st.sampled_from(
        ["..", ".", "", "/", "/victim/victim", "a//b", "a/./b", "loss.steps", "x\x00y"]
        + [f"actmax/x/{'../' * k}victim/victim" for k in range(1, 6)]
    ),
    st.text(max_size=30),
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


@st.composite
def mutations(draw):
    """One change an attacker or an accident makes to a run folder."""
    kinds = ["set", "count", "delete", "rename", "truncate", "scribble", "replace", "link"]
    kind = draw(st.sampled_from([*kinds, "manifest"]))
    if kind == "set":
        return (kind, draw(st.sampled_from(MANIFEST_PATHS)), draw(JSON))
    if kind == "count":  # often still valid: a correct read of fewer (or more) snapshots
        stream = draw(st.sampled_from(STREAMS))
        return ("set", ("streams", stream, "count"), draw(st.integers(0, 8)))
    if kind == "delete":
        return (kind, draw(st.sampled_from(MANIFEST_PATHS)), None)
    if kind == "rename":
        return (kind, draw(st.sampled_from(STREAMS)), draw(HOSTILE_NAMES))
    if kind == "truncate":
        return (kind, draw(st.sampled_from(FILES)), draw(st.integers(0, 300)))
    if kind == "scribble":
        where = (draw(st.sampled_from(FILES)), draw(st.integers(0, 200)))
        return (kind, where, draw(st.binary(min_size=1, max_size=16)))
    if kind == "replace":
        array = draw(
            st.sampled_from(["pickle", "float64", "int64-steps", "wrong-shape", "fortran"])
        )
        return (kind, draw(st.sampled_from(FILES)), array)
    if kind == "link":
        return (kind, draw(st.sampled_from([*FILES, "streams/acts", "streams"])), None)
    return (kind, None, draw(st.binary(max_size=64) | JSON.map(lambda v: json.dumps(v).encode())))


def apply(mutation, folder: Path, outside: Path) -> None:
    kind, where, value = mutation
    file = where[0] if kind == "scribble" else where
    path = folder / file if isinstance(file, str) else None
    if kind in ("set", "delete", "rename"):
        try:
            manifest = json.loads((folder / "manifest.json").read_bytes())
        except ValueError:  # scrambled by an earlier change
            return
        if not isinstance(manifest, dict):
            return
        if kind == "rename":
            if isinstance(manifest.get("streams"), dict) and where in manifest["streams"]:
                manifest["streams"][value] = manifest["streams"].pop(where)
        else:
            *parents, last = where
            node = manifest
            for key in parents:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(last, None) if kind == "delete" else node.__setitem__(last, value)
        (folder / "manifest.json").write_text(json.dumps(manifest))
    elif kind == "manifest":
        (folder / "manifest.json").write_bytes(value)
    elif not path.exists() or not path.resolve().is_relative_to(folder.resolve()):
        return  # missing, or linked out by an earlier change: never write through the link
    elif kind == "truncate":
        path.write_bytes(path.read_bytes()[:value])
    elif kind == "scribble":
        data = bytearray(path.read_bytes())
        data[where[1] : where[1] + len(value)] = value
        path.write_bytes(bytes(data))
    elif kind == "replace":
        arrays = {
            "pickle": np.array([{"evil": 1}] * 3, dtype=object),
            "float64": np.zeros(6, np.float64),
            "int64-steps": np.zeros(6, np.int64),
            "wrong-shape": np.zeros((2, 2), np.float32),
            "fortran": np.asfortranarray(np.zeros((3, 2, 3, 4), np.float16)),
        }
        with open(path, "wb") as handle:
            np.save(handle, arrays[value], allow_pickle=True)
    elif kind == "link":
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        path.symlink_to(outside if where.count("/") < 2 else outside / "victim.npy")


class Watch:
    """Records every file opened, removed or renamed under a folder (Python's audit hooks)."""

    active: Path | None = None
    seen: list[str] = []  # noqa: RUF012

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        if cls.active is None or event not in ("open", "os.remove", "os.rename", "os.rmdir"):
            return
        target = args[0]
        if isinstance(target, (str, bytes, os.PathLike)):
            path = Path(os.fsdecode(target)).resolve()
            if path.is_relative_to(cls.active):
                cls.seen.append(f"{event} {path}")


sys.addaudithook(Watch.hook)


def use_like_a_reader_and_a_writer(folder: Path) -> None:
    """What nnreel does with a run: open it, read every stream, describe it (``info``),
    then reopen it to write: rewind training's streams, re-record an act-max layer."""
    run = Run(folder)
    for name, info in run.streams.items():
        steps = run.steps(name)
        assert len(steps) == info.count and (np.diff(steps) >= 0).all() and (steps >= 0).all()
        if info.count:
            data = run.read(name)
            assert data.shape == (info.count, *info.shape) and data.dtype == np.dtype(info.dtype)
            assert not np.any(steps == MARKER)
        assert isinstance(run.meta(name), dict)
    assert run.writer_pid() is None
    describe(run)
    with RunWriter.reopen(folder) as writer:
        writer.rewind(2, [name for name in ("train/loss", "acts/conv1") if name in writer.streams])
        writer.remove_streams("actmax/conv1")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return write_small_run(tmp_path_factory.mktemp("fuzz") / "run")


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=st.lists(mutations(), min_size=1, max_size=3))
def test_fuzzed_runs_read_correctly_or_fail_with_one_message(pristine, changes, capsys):
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "run"
        shutil.copytree(pristine, folder, symlinks=True)
        victims = plant_victims(Path(scratch) / "victim")
        for change in changes:
            apply(change, folder, victims[0].parent)
        Watch.active, Watch.seen = victims[0].parent.resolve(), []
        try:
            use_like_a_reader_and_a_writer(folder)
            event("read and rewritten")
        except RunError as exc:  # one message: the CLI prints it alone
            event(f"refused: {type(exc).__name__} {str(exc).split(':')[0][-30:]}")
        finally:
            Watch.active = None
        capsys.readouterr()
        assert Watch.seen == [], "the run made nnreel reach outside it"
        assert all(np.load(path)[0] == MARKER for path in victims)
