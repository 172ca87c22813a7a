"""Run folders: ``RunWriter`` records into one, ``Run`` reads it (never unpickling anything)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import RunError, UnknownNameError
from engine.store.manifest import FORMAT, MANIFEST, SCHEMA_VERSION, load_manifest, save_manifest
from engine.store.schema import Graph, LayerInfo, ModelInfo, OptimizerInfo
from engine.store.streams import StreamInfo, check_name, create_arrays, grow_arrays, open_arrays

DEFAULT_BUDGET_BYTES = 4 * 1024**3
MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "checkpoint.pt"


def runs_root() -> Path:
    """Where named runs live: ``$NNREEL_RUNS``, else ``./runs``."""
    return Path(os.environ.get("NNREEL_RUNS", "runs")).expanduser()


def resolve_run(name_or_path: str | Path) -> Path:
    """A run given as a folder path, or as a name under ``runs_root()``."""
    path = Path(name_or_path).expanduser()
    if (path / MANIFEST).exists() or path.is_absolute() or len(path.parts) > 1:
        return path
    return runs_root() / path


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


class RunWriter:
    """Appends snapshots to a run's streams and commits them with an atomic manifest swap.

    Data is written into memory-mapped files first and only then counted in the manifest, so a
    process killed at any moment leaves a run that reads up to its last committed snapshot.
    """

    def __init__(self, folder: Path, manifest: dict[str, Any], streams: dict[str, StreamInfo]):
        self.folder = folder
        self.manifest = manifest
        self.streams = streams
        self._arrays = {
            name: open_arrays(folder, info, writable=True) for name, info in streams.items()
        }
        self._pending = {name: info.count for name, info in streams.items()}
        self._dirty: set[str] = set()
        """Streams written since the last durable commit: only they need syncing."""

    @classmethod
    def create(
        cls,
        folder: Path,
        *,
        header: dict[str, Any],
        streams: Iterable[StreamInfo],
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        overwrite: bool = False,
    ) -> RunWriter:
        """Preallocate every stream and write the first manifest.

        ``header`` carries the descriptive parts (model, dataset, hparams, layers, ...).
        Refuses before writing anything when the run would exceed ``budget_bytes`` or the disk.
        """
        streams = {check_name(s.name): s for s in streams}
        if (folder / MANIFEST).exists() and not overwrite:
            raise RunError(
                f"A run already exists at {folder}. Continue it with --resume, pick another "
                "--run name, or pass --overwrite to replace it."
            )
        total = sum(s.nbytes for s in streams.values())
        check_budget(streams.values(), total, budget_bytes)
        if folder.exists() and overwrite:
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
        if total > free:
            raise RunError(
                f"The run needs {human_bytes(total)} but {folder} has only {human_bytes(free)} "
                "free. Free some space or record less (see `train --help`)."
            )
        for info in streams.values():
            create_arrays(folder, info)
        manifest = {
            "format": FORMAT,
            "schema": SCHEMA_VERSION,
            "name": folder.name,
            "created": _now(),
            "updated": _now(),
            "status": "running",
            "message": "",
            **header,
            "size_bytes": total,
            "budget_bytes": budget_bytes,
            "streams": {name: info.to_json() for name, info in streams.items()},
            "progress": header.get("progress", {"step": 0, "epoch": 0}),
            "checkpoint": None,
        }
        save_manifest(folder, manifest)
        return cls(folder, manifest, streams)

    @classmethod
    def reopen(cls, folder: Path) -> RunWriter:
        """Open an existing run to continue writing (see ``rewind`` before resuming)."""
        manifest = load_manifest(folder)
        streams = {
            name: StreamInfo.from_json(name, entry) for name, entry in manifest["streams"].items()
        }
        return cls(folder, manifest, streams)

    def add_stream(self, info: StreamInfo) -> None:
        """A stream created after the run began (an analysis added later, say)."""
        check_name(info.name)
        if info.name in self.streams:
            raise RunError(f"Stream {info.name!r} already exists in {self.folder}.")
        create_arrays(self.folder, info)
        self.streams[info.name] = info
        self._arrays[info.name] = open_arrays(self.folder, info, writable=True)
        self._pending[info.name] = 0
        self.manifest["size_bytes"] = self.manifest.get("size_bytes", 0) + info.nbytes

    def remove_streams(self, prefix: str) -> list[str]:
        """Forget every stream named ``prefix/…`` (an analysis about to be recorded again).

        The manifest stops listing them in one atomic swap before their files are deleted, so
        a reader never meets a listed stream without its files.
        """
        names = [name for name in self.streams if name.startswith(f"{prefix}/")]
        if not names:
            return []
        removed = [self.streams.pop(name) for name in names]
        for name in names:
            del self._arrays[name], self._pending[name]
        self.manifest["size_bytes"] = self.manifest.get("size_bytes", 0) - sum(
            info.nbytes for info in removed
        )
        self.commit(durable=True)
        for info in removed:
            for relative in (info.file, info.steps_file):
                (self.folder / relative).unlink(missing_ok=True)
        return names

    def write(self, name: str, step: int, value: np.ndarray) -> None:
        self.write_many(name, np.asarray([step]), np.asarray(value)[None])

    def write_many(self, name: str, steps: np.ndarray, values: np.ndarray) -> None:
        """Append several snapshots at once (one copy, not one per snapshot). A stream created
        ``growable`` doubles its capacity when full (a loop of unknown length); any other
        refuses."""
        info = self.streams[name]
        start = self._pending[name]
        stop = start + len(steps)
        if stop > info.capacity:
            if not info.meta.get("growable"):
                raise RunError(
                    f"Stream {name!r} is full ({info.capacity} snapshots); the recording plan "
                    "and the training loop disagree."
                )
            self.grow(name, max(stop, 2 * info.capacity))
        data, step_array = self._arrays[name]
        data[start:stop] = values
        step_array[start:stop] = steps
        self._pending[name] = stop
        self._dirty.add(name)

    def grow(self, name: str, capacity: int) -> None:
        """Give stream ``name`` room for ``capacity`` snapshots.

        The files are copied into larger ones that replace them; the manifest learns the new
        capacity at the next commit. Readers accept files larger than the manifest says, so a
        kill at any point leaves a readable run.
        """
        info = self.streams[name]
        if capacity <= info.capacity:
            return
        extra = (capacity - info.capacity) * info.snapshot_bytes
        total = self.manifest.get("size_bytes", 0) + extra
        budget = self.manifest.get("budget_bytes", DEFAULT_BUDGET_BYTES)
        if total > budget:
            self.commit()
            raise RunError(
                f"Stream {name!r} would grow the run to {human_bytes(total)}, above its budget "
                f"of {human_bytes(budget)}. Everything recorded so far is kept. Record less "
                "often (a sparser cadence) or fewer layers, or raise the budget."
            )
        for array in self._arrays.pop(name):
            array.flush()
        self._arrays[name] = grow_arrays(self.folder, info, capacity)
        info.capacity = capacity
        self.manifest["size_bytes"] = total

    def pending_count(self, name: str) -> int:
        return self._pending[name]

    def commit(self, durable: bool = False, **progress: Any) -> None:
        """Make everything written so far visible to readers.

        Memory-mapped writes live in the page cache, so a killed process loses nothing that
        was written; ``durable`` also syncs them to disk to survive a power cut (checkpoints).
        """
        if durable:  # a sync costs milliseconds even on a clean map: only the written ones
            for name in self._dirty & self._arrays.keys():
                for array in self._arrays[name]:
                    array.flush()
            self._dirty.clear()
        for name in self._arrays:
            self.streams[name].count = self._pending[name]
        self.manifest["streams"] = {name: info.to_json() for name, info in self.streams.items()}
        self.manifest["progress"].update(progress)
        self.manifest["updated"] = _now()
        save_manifest(self.folder, self.manifest, durable)

    def rewind(self, step: int) -> None:
        """Forget snapshots taken after ``step`` (they belong to steps a resume will redo)."""
        for name, info in self.streams.items():
            _, steps = self._arrays[name]
            info.count = int(np.searchsorted(steps[: info.count], step, side="right"))
            self._pending[name] = info.count
        self.commit(durable=True, step=step)

    def set_status(self, status: str, message: str = "", **fields: Any) -> None:
        self.manifest["status"] = status
        self.manifest["message"] = message
        self.manifest.update(fields)
        self.commit(durable=True)


def check_budget(streams: Iterable[StreamInfo], total: int, budget_bytes: int) -> None:
    """Refuse a recording plan above the budget, naming the biggest streams."""
    if total <= budget_bytes:
        return
    biggest = sorted(streams, key=lambda s: s.nbytes, reverse=True)[:5]
    lines = "\n".join(
        f"  {s.name}: {human_bytes(s.nbytes)} ({s.capacity} snapshots)" for s in biggest
    )
    raise RunError(
        f"This run would record {human_bytes(total)}, above the budget of "
        f"{human_bytes(budget_bytes)}. Largest streams:\n{lines}\n"
        "Record fewer snapshots (--snapshots), fewer layers (--record-layers), fewer probe "
        "images (--probe-size), or raise the budget with --budget-gb."
    )


class Run:
    """A recorded run, opened read-only. Streams are memory-mapped: reading step k of one layer
    touches only that slice of one file."""

    def __init__(self, folder: str | Path):
        self.folder = resolve_run(folder)
        self.manifest = load_manifest(self.folder)
        self.streams = {
            name: StreamInfo.from_json(name, entry)
            for name, entry in self.manifest["streams"].items()
        }
        # Mapping every stream up front checks each file against the manifest (cheap: headers
        # only), so a damaged run fails here with the file named, not mid-render.
        self._arrays = {name: open_arrays(self.folder, info) for name, info in self.streams.items()}

    def __repr__(self) -> str:
        return f"Run({str(self.folder)!r}, status={self.status!r})"

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def status(self) -> str:
        return self.manifest["status"]

    @property
    def model(self) -> dict[str, Any]:
        return self.manifest["model"]

    @property
    def dataset(self) -> dict[str, Any]:
        return self.manifest["dataset"]

    @property
    def hparams(self) -> dict[str, Any]:
        return self.manifest.get("hparams", {})

    @property
    def classes(self) -> list[str]:
        return list(self.dataset.get("classes", []))

    @property
    def layers(self) -> list[LayerInfo]:
        return [LayerInfo.from_json(entry) for entry in self.manifest.get("layers", [])]

    @property
    def graph(self) -> Graph:
        """The model as a graph: the layer table's nodes and the edges between them, skip
        connections marked (a run of schema 1 reads as a chain)."""
        return Graph.from_layers(self.layers)

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo.from_json(self.model)

    @property
    def optimizer(self) -> OptimizerInfo | None:
        """The optimiser and learning rate, from the manifest (or a schema-1 run's hparams)."""
        entry = self.manifest.get("optimizer")
        if entry:
            return OptimizerInfo(
                str(entry["name"]), entry.get("lr"), dict(entry.get("settings", {}))
            )
        if "optimizer" in self.hparams:
            return OptimizerInfo(str(self.hparams["optimizer"]), self.hparams.get("lr"))
        return None

    def layer(self, name: str) -> LayerInfo:
        for info in self.layers:
            if info.name == name:
                return info
        raise UnknownNameError("layer", name, [info.name for info in self.layers])

    def has(self, name: str) -> bool:
        return name in self.streams and self.streams[name].count > 0

    def stream(self, name: str) -> StreamInfo:
        if name not in self.streams:
            present = ", ".join(sorted(self.streams)) or "none"
            raise RunError(
                f"Run {self.name!r} has no stream {name!r}; it was not recorded. "
                f"Streams present: {present}. Re-train with the recording enabled "
                "(see `python -m engine train --help`)."
            )
        return self.streams[name]

    def _open(self, name: str) -> tuple[np.ndarray, ...]:
        self.stream(name)
        return self._arrays[name]

    def count(self, name: str) -> int:
        return self.stream(name).count

    def steps(self, name: str) -> np.ndarray:
        """The training step of every committed snapshot of ``name``."""
        return np.array(self._open(name)[1][: self.count(name)])

    def read(self, name: str, index: int | slice | np.ndarray = slice(None)) -> np.ndarray:
        """Committed snapshots of ``name`` (negative indices count from the last committed)."""
        count = self.count(name)
        if count == 0:
            raise RunError(f"Stream {name!r} of run {self.name!r} has no snapshot yet.")
        data = self._open(name)[0][:count]
        if isinstance(index, (int, np.integer)) and not -count <= index < count:
            raise RunError(f"Stream {name!r} has {count} snapshots; index {index} is out of range.")
        return np.array(data[index])

    def index_at(self, name: str, step: int) -> int:
        """Index of the last snapshot of ``name`` taken at or before ``step`` (0 if none)."""
        return max(0, int(np.searchsorted(self.steps(name), step, side="right")) - 1)

    def meta(self, name: str) -> dict[str, Any]:
        return self.stream(name).meta

    def disk_usage(self) -> dict[str, int]:
        """Bytes on disk per stream (allocated blocks, so sparse files count what is written)."""
        usage = {}
        for name, info in self.streams.items():
            files = (self.folder / info.file, self.folder / info.steps_file)
            usage[name] = sum(f.stat().st_blocks * 512 for f in files if f.exists())
        return usage


def layer_table_json(layers: Iterable[LayerInfo]) -> list[dict[str, Any]]:
    return [layer.to_json() for layer in layers]
