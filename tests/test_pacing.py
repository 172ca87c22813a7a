"""Pacing: every scene, rendered at the readable pace, leaves time to read each caption; the
``pace`` option every scene takes scales the whole scene."""

from __future__ import annotations

import pytest

from engine.errors import NnreelError
from engine.scenekit.options import PACE, parse_options
from engine.video.catalog import check_options, scene_info, scene_paths

FIXTURE_OF_PRESET = {"vgg16-synth": "tiny_vgg", "smallcnn-synth": "small_cnn", "mlp-ring": "ring"}
"""The small test run standing in for each scene's default run."""
RECORDING = {"actmax": "steps=4", "filters": "steps=4", "unit": "steps=4"}
"""Scenes that record activation-maximisation images into their run on first use (into a copy
here, few optimisation steps: the pace does not depend on them)."""
TINY = {"size": (128, 72), "fps": 4}
"""Enough pixels and frames to time captions; the content is tested elsewhere."""
LARGER = {"actmax": {"size": (256, 144), "fps": 4}}
"""Scenes whose labelled tiles need more pixels to fit."""


def test_every_scene_takes_a_pace_by_number_or_name():
    for name in scene_paths():
        assert "pace" in scene_info(name).options, name
    assert check_options("training", {"pace": "brisk"})["pace"] == 0.5
    assert check_options("training", {})["pace"] == 1.0
    assert parse_options(PACE, "pace=2.5")["pace"] == 2.5
    for wrong in ("0", "-1", "fast", "11"):
        with pytest.raises(NnreelError, match=r"readable \| brisk"):
            parse_options(PACE, {"pace": wrong})


@pytest.mark.render
@pytest.mark.parametrize("scene", sorted(scene_paths()))
def test_every_scene_leaves_time_to_read_its_captions(scene, request, writable, render_small):
    run = request.getfixturevalue(FIXTURE_OF_PRESET[scene_info(scene).default_run])
    if scene in RECORDING:
        run = writable(run)
    render_small(scene, run, RECORDING.get(scene, ""), **LARGER.get(scene, TINY))  # checks them


@pytest.mark.render
def test_pace_scales_the_whole_scene(tiny_vgg, render_small):
    readable = render_small("training", tiny_vgg, "", **TINY)
    brisk = render_small("training", tiny_vgg, "pace=brisk", **TINY)
    assert len(brisk.frames) == pytest.approx(len(readable.frames) / 2, abs=2)


def test_the_command_line_takes_a_pace_and_refuses_a_wrong_one(project, capsys):
    from engine.cli import main

    assert main(["render", "training", "--pace", "fast"]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "pace='fast' is not valid" in err and "readable | brisk" in err
    assert main(["lecture", "--scenes", "training", "--pace", "0"]) == 2
    assert "pace='0' is not valid" in capsys.readouterr().err.replace("\n", " ")
