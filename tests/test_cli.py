"""The command line and the Python API: commands that answer without loading torch,
torchvision or Manim, the scene listing generated from the scenes' declared options, option
errors before any render, and the README's Python example run as written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
from videos import ROOT, scene_module

from engine.video import catalog

HEAVY = ("torch", "torchvision", "manim")


def test_commands_that_need_no_model_never_import_torch_or_manim(tmp_path):
    """``--help`` of every command, the scene listing, option errors and ``export`` of a clip,
    all in one fresh process, which then has imported none of the heavy libraries."""
    import imageio_ffmpeg

    video = tmp_path / "clip.mp4"
    make = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i"]
    make += ["testsrc=size=160x90:rate=10", "-t", "1", "-pix_fmt", "yuv420p", str(video)]
    subprocess.run(make, check=True)
    script = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        from engine.cli import COMMANDS, main

        def code(args):
            with contextlib.redirect_stdout(io.StringIO()), \\
                    contextlib.redirect_stderr(io.StringIO()):
                try:
                    return main(args)
                except SystemExit as exit_:
                    return exit_.code

        codes = {{"--help": code(["--help"])}}
        codes |= {{f"{{c}} --help": code([c, "--help"]) for c in COMMANDS}}
        codes["scenes"] = code(["scenes"])
        codes["render --list"] = code(["render", "--list"])
        codes["bad option"] = code(["render", "featuremaps", "--set", "maps=0"])
        codes["unknown option"] = code(["render", "featuremaps", "--set", "mpas=3"])
        codes["unknown scene"] = code(["render", "featurmaps"])
        codes["export"] = code(["export", {str(video)!r}, "--gif", "--width", "80"])
        print(json.dumps({{"codes": codes, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["heavy"] == []
    codes = result["codes"]
    assert codes.pop("bad option") == codes.pop("unknown option") == codes.pop("unknown scene") == 2
    assert set(codes.values()) == {0}, codes
    assert video.with_suffix(".gif").stat().st_size > 0


def test_every_scene_is_listed_with_every_option(capsys):
    from engine.cli import main

    assert main(["render", "--list"]) == 0
    listed = capsys.readouterr().out
    assert main(["scenes"]) == 0
    assert capsys.readouterr().out == listed
    infos = catalog.scene_infos()
    assert [info.name for info in infos] == sorted(p.stem for p in (ROOT / "scenes").glob("*.py"))
    blocks = {block.split(" — ")[0]: block for block in listed.strip().split("\n\n")}
    assert list(blocks) == [info.name for info in infos]
    for info in infos:
        lines = blocks[info.name].splitlines()
        assert lines[0] == f"{info.name} — {info.summary}"
        assert lines[1].startswith(f"    default run: {info.default_run}")
        assert len(lines) == 2 + len(info.options)
        for line, (key, option) in zip(lines[2:], info.options.items(), strict=True):
            assert line.split()[0] == key
            assert option.describe() in line and line.endswith(option.help)
            assert f"default {option.shown_default()}" in line
    assert re.search(r"cmap +viridis \| greens \| gray +default viridis", blocks["featuremaps"])
    assert "plays fitting, neurons, weights in turn" in listed  # mlp: the options of its parts
    assert main(["scenes", "kernels"]) == 0
    alone = capsys.readouterr().out
    assert alone.startswith("kernels — ") and "featuremaps" not in alone


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "scenes").glob("*.py")))
def test_options_read_without_running_the_scene_are_the_scenes_own(name):
    """What the listing and the fast option check read from the file's syntax tree is exactly
    what the scene class holds when it runs."""
    info = catalog.scene_info(name)
    scene = getattr(scene_module(name), info.class_name)
    assert info.options == scene.options
    assert info.default_run == scene.default_preset


def test_option_errors_come_before_any_render(project, capsys):
    from engine.cli import main

    assert main(["render", "pruning", "--set", "sparsity=1.5", "--set", "hold=0"]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "sparsity='1.5' is not valid: give a number > 0 and < 1" in err
    assert main(["render", "training", "--set", "secnds=2"]) == 2
    assert "Did you mean 'seconds'" in capsys.readouterr().err
    assert not (project / "renders").exists()


def test_the_looks_and_outputs_for_slides_reach_the_renderer(project, monkeypatch, capsys):
    from engine.cli import main
    from engine.video import render

    given = {}
    html = project / "Weights-mlp-ring-light.html"
    monkeypatch.setattr(render, "render", lambda *args, **kwargs: given.update(kwargs) or html)
    monkeypatch.setenv("NNREEL_SET", "dwell=1")
    assert main(["render", "weights", "--theme", "light", "--slides", "--stills"]) == 0
    assert given["theme"] == "light" and given["dwell"] == "1"  # $NNREEL_SET's, and the theme
    assert given["slides"] and given["stills"] and not given["transparent"]
    captured = capsys.readouterr()
    out = (captured.out + captured.err).replace("\n", " ")
    assert "manim-slides present --folder" in out and "Weights-mlp-ring-light" in out
    with pytest.raises(SystemExit):  # argparse names the choices
        main(["render", "weights", "--theme", "sepia"])
    assert "choose from 'dark', 'light'" in capsys.readouterr().err


def test_an_image_path_with_spaces_reaches_the_renderer_whole(project, monkeypatch):
    """`--set image="my digit.png"` (one shell word) and the same in $NNREEL_SET, quoted as a
    shell quotes it, give the scene the whole path."""
    from engine.cli import main
    from engine.scenekit import SET_ENV, options_text
    from engine.video import render

    given = []
    monkeypatch.setattr(render, "render", lambda *args, **kwargs: given.append(kwargs) or project)
    monkeypatch.setattr("engine.cli.render.report", lambda *args: None)
    assert main(["render", "featuremaps", "--set", "image=my digit.png"]) == 0
    monkeypatch.setenv(SET_ENV, options_text({"image": "my digit.png", "maps": 8}))
    assert main(["render", "featuremaps"]) == 0
    assert [kwargs["image"] for kwargs in given] == ["my digit.png", "my digit.png"]
    assert given[1]["maps"] == "8"


def readme_python_example() -> str:
    """The first Python block of the README's section on the Python API."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python and notebooks", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.render
def test_the_readmes_python_example_renders(project, fixed_vgg, monkeypatch, capsys):
    """The README's example, run as written, on a run named after the default preset (written
    from fixed numbers, so nothing is trained); then the notebook display of its video."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from engine.video import notebook
    from engine.video.gif import gif_from_video

    runs = project / "runs"
    shutil.copytree(fixed_vgg, runs / "vgg16-synth")
    monkeypatch.setenv("NNREEL_RUNS", str(runs))
    namespace: dict = {}
    exec(readme_python_example(), namespace)
    video = namespace["video"]
    assert video == project / "renders" / "training" / "480p15" / "Training-vgg16-synth.mp4"
    assert video.is_file() and str(video.relative_to(project)) in capsys.readouterr().out
    assert not notebook.in_notebook()

    gif = gif_from_video(video, width=80, fps=5).path
    shell = InteractiveShell.instance()
    try:
        with capture_output() as shown:
            notebook.show(video, display=True)
            notebook.show(gif, display=True)
    finally:
        InteractiveShell.clear_instance()
    movie, picture = shown.outputs
    assert "<video" in movie.data["text/html"] and "controls" in movie.data["text/html"]
    assert "image/gif" in picture.data
    del shell


def test_the_python_api_refuses_what_it_cannot_render(fixed_vgg):
    from engine import render
    from engine.errors import NnreelError, UnknownNameError

    with pytest.raises(UnknownNameError, match="Valid quality settings: low, medium, high, 4k"):
        render("training", fixed_vgg, quality="ultra")
    with pytest.raises(UnknownNameError, match="Did you mean 'gif'"):
        render("training", fixed_vgg, fmt="gf")
    with pytest.raises(NnreelError, match="seconds=-1 is not valid: give a number ≥ 0"):
        render("training", fixed_vgg, seconds=-1)
    with pytest.raises(UnknownNameError, match=r"Unknown scene 'trainig'.*Did you mean 'training'"):
        render("trainig", fixed_vgg)


def test_a_project_scene_with_options_built_in_code_is_listed_and_not_prechecked(project):
    """A project's own scene in ./scenes joins the catalog; options it computes rather than
    declares cannot be read without running it, so the listing says where they are and the
    scene checks them itself when it runs."""
    (project / "scenes" / "mine.py").write_text(
        textwrap.dedent(
            '''
            from engine.scenekit import Number, RunScene

            def made():
                return {"pace": Number(1.0, "seconds per step", above=0)}

            class Mine(RunScene):
                """My own scene."""

                default_preset = "mlp-ring"
                options = made()
            '''
        )
    )
    info = catalog.scene_info("mine")
    assert info.path == project / "scenes" / "mine.py" and info.options is None
    assert (info.summary, info.default_run) == ("My own scene.", "mlp-ring")
    assert f"options: declared in code, see {info.path}" in catalog.listing([info])
    assert catalog.check_options("mine", {"pace": "-1"}) == {}


def test_info_on_an_80_column_terminal_shows_every_stream_whole(ring, monkeypatch, capsys):
    """Names and sizes are never cut to an ellipsis; the cadences wrap instead."""
    from engine.cli.info import describe
    from engine.console import console
    from engine.store import Run
    from engine.store.files import human_bytes

    monkeypatch.setattr(console, "width", 80)
    run = Run(ring)
    describe(run)
    lines = capsys.readouterr().err.splitlines()
    assert max(map(len, lines)) <= 80
    usage = run.disk_usage()
    for name in run.streams:
        row = next((line for line in lines if f"│ {name} " in line), None)
        assert row is not None, f"{name} is not shown whole"
        assert human_bytes(usage[name]) in row
    full = human_bytes(run.manifest["size_bytes"])
    assert f"on disk: {human_bytes(sum(usage.values()))}, for streams of {full} when full" in lines
