"""Writing snapshots into a run's stream files: through a shared memory map (how the store
wrote until 2026-12-06) against ``os.pwrite`` (how ``StreamFiles`` writes now), side by side.

Each round writes the snapshots of a small MLP's recording (mlp-ring's fitted plane: five
streams of 9 × 96 × 96 fp16 per snapshot) into freshly created, preallocated streams, as a
training does: every page is touched for the first time.

    python -m bench.store_bench
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench.common import Figure, before_timing, interleaved, ratio_figure, show, timed
from engine.store.streams import StreamFiles, StreamInfo, create_arrays, stream_paths

SHAPE = (9, 96, 96)
STREAMS = 5


def make_streams(folder: Path, snapshots: int) -> list[StreamInfo]:
    infos = [StreamInfo(f"plane/u{i}", "float16", SHAPE, snapshots) for i in range(STREAMS)]
    for info in infos:
        create_arrays(folder, info).close()
    return infos


def through_map(folder: Path, infos: list[StreamInfo], snapshot: np.ndarray) -> None:
    for info in infos:
        data_path, steps_path = stream_paths(folder, info)
        data = np.load(data_path, mmap_mode="r+")
        steps = np.load(steps_path, mmap_mode="r+")
        for k in range(info.capacity):
            data[k] = snapshot
            steps[k] = k
        del data, steps


def through_pwrite(folder: Path, infos: list[StreamInfo], snapshot: np.ndarray) -> None:
    for info in infos:
        files = StreamFiles.open(folder, info)
        for k in range(info.capacity):
            files.write(k, np.array([k]), snapshot[None])
        files.close()


def write_time(write, snapshots: int, root: Path):
    """Seconds per snapshot (all streams) into new streams; creating them stays outside."""
    folder = Path(tempfile.mkdtemp(dir=root))
    infos = make_streams(folder, snapshots)
    snapshot = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float16)
    took, _ = timed(lambda: write(folder, infos, snapshot))
    return took / snapshots


def figures(quick: bool = False, snapshots: int | None = None) -> list[Figure]:
    count = snapshots or (30 if quick else 120)
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:  # the disk runs are written to
        took = interleaved(
            {
                "map": lambda: write_time(through_map, count, Path(tmp)),
                "pwrite": lambda: write_time(through_pwrite, count, Path(tmp)),
            },
            2 if quick else 5,
        )
    return [
        ratio_figure(
            f"snapshot writes, memory map vs pwrite ({STREAMS} × 9×96×96 fp16, {count} "
            "snapshots into new streams)",
            took["map"],
            took["pwrite"],
            "> 1",
            "per snapshot; fastest of rounds",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, help="per stream (default 120)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    before_timing()
    show(figures(args.quick, args.snapshots), judged=not args.quick)


if __name__ == "__main__":
    main()
