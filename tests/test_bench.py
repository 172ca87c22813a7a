"""The benchmark suite's plumbing: discovery, the module protocol, the table and the targets.
Nothing here times anything: speed is measured in bench/, never asserted in a test."""

from __future__ import annotations

import inspect
import math
import sys
import types
from pathlib import Path

import pytest
from rich.console import Console

from bench import __main__ as suite
from bench.common import Figure, Took, interleaved, per_round, repeated_note, table
from engine.errors import NnreelError

BENCH = Path(__file__).resolve().parents[1] / "bench"
FIGURES = [
    Figure("featuremaps vs one moving dot", 1.234, "wall 9.9 s vs 8.0 s", "≤ 1.5"),
    Figure("squares vs | raster", 31.0, "a | b", "≥ 20"),
    Figure("10 s clip", 1.5, "exported", "< 2", unit=" MB"),
    Figure("units beating the dataset max", 0.75, "6/8 live", unit="%"),
    Figure("recording overhead", 1.2, "slow", "≤ 1.10"),
]


def test_discovery_finds_every_bench_module():
    on_disk = sorted(p.stem.removesuffix("_bench") for p in BENCH.glob("*_bench.py"))
    assert suite.discover() == on_disk
    assert {"recording", "render", "story_render", "mlp_render", "cnn_render", "actmax"} <= set(
        on_disk
    )


@pytest.mark.parametrize("name", suite.discover())
def test_every_module_has_figures_with_a_quick_switch(name):
    quick = inspect.signature(suite.load(name)).parameters["quick"]
    assert quick.default is False


@pytest.mark.parametrize(
    ("ratio", "target", "met"),
    [
        (1.5, "≤ 1.5", True),
        (1.51, "≤ 1.5", False),
        (20, "≥ 20", True),
        (19.9, "≥ 20", False),
        (2.0, "< 2", False),
        (1.99, "<2", True),
        (1.0, "> 1", False),
        (1.01, "> 1", True),
        (math.nan, "≤ 1.5", False),
        (3.0, "", None),
    ],
)
def test_figure_met(ratio, target, met):
    assert Figure("x", ratio, target=target).met is met


@pytest.mark.parametrize("target", ["1.5", "<= 1.5", "≤ fast", "-"])
def test_figure_refuses_a_target_it_cannot_check(target):
    with pytest.raises(ValueError, match="target"):
        Figure("x", 1.0, target=target)


def test_figure_values_read_in_their_unit():
    assert [f.value for f in FIGURES] == ["1.23×", "31.00×", "1.50 MB", "75%", "1.20×"]


def test_table_renders_every_figure():
    console = Console(record=True, width=250)
    console.print(table(FIGURES, "quick; load 1.0"))
    text = console.export_text()
    for figure in FIGURES:
        assert figure.name in text and figure.value in text
    assert text.count("yes") == 3 and text.count("no") == 1
    assert "quick; load 1.0" in text


def test_a_quick_table_judges_nothing():
    console = Console(record=True, width=250)
    console.print(table(FIGURES, judged=False))
    text = console.export_text()
    assert "yes" not in text and " no " not in text and "≤ 1.5" in text
    assert "**no**" not in suite.markdown(FIGURES, judged=False)


def test_markdown_has_one_row_per_figure_and_escapes_pipes():
    lines = suite.markdown(FIGURES, "caption").splitlines()
    rows = [line for line in lines if line.startswith("| ")]
    assert len(rows) == 2 + len(FIGURES)
    assert rows[3].startswith("| squares vs \\| raster | 31.00× | ≥ 20 | yes | a \\| b |")
    assert "| **no** |" in rows[-1]
    assert lines[-1] == "caption"


def test_interleaved_alternates_the_order_and_keeps_the_fastest():
    calls = []

    def task(name: str, walls: list[float]):
        def run() -> Took:
            calls.append(name)
            return Took(walls[len([c for c in calls if c == name]) - 1], 1.0)

        return run

    took = interleaved({"a": task("a", [3.0, 1.0, 2.0]), "b": task("b", [5.0, 6.0, 4.0])}, 3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert took == {"a": Took(1.0, 1.0), "b": Took(4.0, 1.0)}


def test_per_round_ratios_show_what_one_lucky_round_hides():
    plain = [Took(wall, 1.0) for wall in (1.0, 0.8, 1.0, 1.0)]  # one lucky plain round
    recorded = [Took(wall, 1.0) for wall in (1.1, 1.0, 1.08, 1.06)]
    assert per_round(recorded, plain) == "per round 1.09× (median; 1.06–1.25×)"
    assert repeated_note(recorded[:3], plain[:3]) == (
        "fastest of 3; per round 1.10× (median; 1.08–1.25×)"
    )
    assert repeated_note(recorded[:1], plain[:1]) == ""


def test_suite_runs_the_selected_modules_reports_failures_and_writes_markdown(
    monkeypatch, tmp_path
):
    def broken(quick: bool = False) -> list[Figure]:
        raise RuntimeError("no run")

    modules = {"good": lambda quick=False: FIGURES[:2], "broken": broken}
    monkeypatch.setattr(suite, "discover", lambda: [*sorted(modules), "unloadable"])
    monkeypatch.setattr(suite, "load", modules.__getitem__)  # KeyError for "unloadable"
    notes = tmp_path / "notes" / "bench.md"
    assert suite.main(["--quick", "--markdown", str(notes)]) == 1
    assert notes.read_text().count("| featuremaps vs one moving dot |") == 1
    assert suite.main(["--only", "good"]) == 0


def test_a_module_without_figures_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "bench.empty_bench", types.ModuleType("bench.empty_bench"))
    with pytest.raises(NnreelError, match=r"bench/empty_bench.py has no figures\("):
        suite.load("empty")


def test_unknown_module_is_refused_with_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        suite.main(["--only", "rendr"])
    assert "Did you mean 'render'" in capsys.readouterr().err


def test_a_user_loop_in_lockstep_trains_alike_both_ways_and_times_the_recorders_calls(tmp_path):
    """The recorded and the plain loop take turns step by step on the same batches: recording
    leaves the training alone, so both models end alike, and only the recorded loop has time
    inside the recorder's calls, a part of its whole."""
    import torch

    from bench.recording_bench import lockstep, own_share
    from engine.store import Run

    recorded, plain = lockstep("vgg16-slim", tmp_path, quick=True)
    assert 0 < recorded.spent.wall < recorded.took.wall and plain.spent.wall == 0
    assert plain.took.wall > 0 and Run(recorded.recorder.folder).status == "finished"
    ours, theirs = recorded.model.state_dict(), plain.model.state_dict()
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], msg=name)
    assert own_share([0.02, 0.05, 0.03]) == "in the recorder's calls 3.0% of the loop (median)"
