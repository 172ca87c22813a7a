"""A lecture: several scenes of one run joined into one MP4, with a title card before each
part, chapter markers, and one caption file merged from the parts' subtitles."""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import srt

from engine.errors import NnreelError, RunError
from engine.scenekit.cards import CARD_SECONDS, card_image, part_title
from engine.scenekit.options import PACE, parse_options
from engine.video.gif import ffmpeg
from engine.video.jobs import (
    RenderJob,
    default_preset,
    prepare_runs,
    render_jobs,
    renders_folder,
)

if TYPE_CHECKING:
    import numpy as np

DEFAULT_STORY = ("architecture", "operations", "training", "featuremaps", "unit", "actmax")
"""The whole story of one CNN run, in the order a lecture tells it: the network, what its
operations do to real numbers, its training, its feature maps (and how they form over
training), one unit seen four ways, and the images its units want to see."""
PLANE_STORY = ("architecture", "training", "fitting", "neurons", "weights")
"""The story of an MLP recorded on the plane of its 2-D inputs: the network, its training, the
function it fits, what each neuron responds to, and how the output traces back to the input."""


def story_for(run: str) -> tuple[str, ...]:
    """The default story for ``run`` (a name or folder that exists)."""
    from engine.store import Run, schema

    return PLANE_STORY if Run(run).has(schema.PLANE_PROB) else DEFAULT_STORY


@dataclass(frozen=True)
class VideoFormat:
    """What a segment must share with the others to be joined without re-encoding."""

    codec: str
    pix_fmt: str
    width: int
    height: int
    rate: Fraction


@dataclass(frozen=True)
class Part:
    title: str
    video: Path
    captions: list[srt.Subtitle]


def video_format(video: Path) -> VideoFormat:
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        return VideoFormat(
            stream.codec_context.name,
            stream.codec_context.pix_fmt,
            stream.codec_context.width,
            stream.codec_context.height,
            nominal_rate(stream),
        )


def nominal_rate(stream) -> Fraction:
    """The frame rate a video was encoded at. Not the average over its timestamps: Manim's
    joins of partial movies round a few of them, so 15 fps can average 15.0003."""
    return Fraction(stream.base_rate or stream.guessed_rate or stream.average_rate)


def duration(video: Path) -> float:
    """Seconds of video: frames counted over the frame rate (what a player shows)."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        frames = stream.frames or sum(1 for _ in container.demux(stream) if _.size)
        return float(frames / nominal_rate(stream))


def write_card(image: np.ndarray, target: Path, fmt: VideoFormat, seconds: float) -> Path:
    """A still segment encoded like the scenes' videos, so all parts join by stream copy."""
    import av
    import numpy as np

    with av.open(str(target), "w") as container:
        stream = container.add_stream(fmt.codec, rate=fmt.rate)
        stream.width, stream.height, stream.pix_fmt = fmt.width, fmt.height, fmt.pix_fmt
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[..., :3]), format="rgb24")
        for index in range(round(seconds * fmt.rate)):
            frame.pts = index
            frame.time_base = 1 / fmt.rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return target


def read_captions(video: Path) -> list[srt.Subtitle]:
    """The subtitles Manim wrote beside a video (none when the scene added no subcaption)."""
    path = video.with_suffix(".srt")
    if not path.exists():
        return []
    return list(srt.parse(path.read_text(encoding="utf-8")))


def merge_captions(parts: list[tuple[float, list[srt.Subtitle]]]) -> list[srt.Subtitle]:
    """One subtitle track: each part's captions shifted to where the part starts."""
    merged = []
    for offset, captions in parts:
        shift = dt.timedelta(seconds=offset)
        for caption in captions:
            merged.append(
                srt.Subtitle(
                    len(merged) + 1, caption.start + shift, caption.end + shift, caption.content
                )
            )
    return merged


def escape_metadata(text: str) -> str:
    """ffmpeg's metadata files give '=', ';', '#', '\\' and newlines a meaning: escape them."""
    for char in "\\=;#\n":
        text = text.replace(char, "\\" + char)
    return text


def chapters_text(chapters: list[tuple[str, float, float]]) -> str:
    """ffmpeg's metadata format, one chapter per part (milliseconds)."""
    lines = [";FFMETADATA1"]
    for title, start, end in chapters:
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(start * 1000)}",
            f"END={round(end * 1000)}",
            f"title={escape_metadata(title)}",
        ]
    return "\n".join(lines) + "\n"


def join(segments: list[Path], chapters: str, captions: Path, target: Path) -> None:
    """Concatenate the segments by stream copy, with chapters and the caption track."""
    folder = target.parent
    listing = folder / f"{target.stem}.segments.txt"
    listing.write_text("".join(f"file '{s.resolve()}'\n" for s in segments))
    metadata = folder / f"{target.stem}.chapters.txt"
    metadata.write_text(chapters)
    command = [
        ffmpeg(), "-v", "error", "-y",
        "-f", "concat", "-safe", "0", "-i", str(listing),
        "-i", str(metadata), "-i", str(captions),
        "-map", "0:v", "-map", "2:s", "-map_metadata", "1", "-map_chapters", "1",
        "-c:v", "copy", "-c:s", "mov_text", "-metadata:s:s:0", "language=eng",
        str(target),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    listing.unlink(missing_ok=True)
    metadata.unlink(missing_ok=True)
    if done.returncode != 0:
        raise NnreelError(f"ffmpeg could not join the lecture: {done.stderr.strip()[-400:]}")


def describe_run(run_name: str) -> str:
    from engine.scenekit.base import dataset_name, model_name
    from engine.store import Run

    run = Run(run_name)
    return f"{model_name(run)} on {dataset_name(run)} · run {run.name}"


def make_lecture(
    scenes: list[str] | None,
    run: str | None = None,
    quality: str = "high",
    resolution: tuple[int, int] | None = None,
    fps: float | None = None,
    output: Path | None = None,
    workers: int | None = None,
    pace: str | float = "readable",
) -> Path:
    """Render (or reuse) each scene on one run and join them into ``output`` with title cards,
    chapters and merged captions (``output`` with ``.srt`` beside it); every part, and its
    card, at ``pace`` (the scenes' option).

    ``scenes`` None tells the story that fits the run (``story_for``), leaving out a part
    that cannot film it (a first conv the operations scene cannot draw, say); scenes named
    must all render."""
    if scenes is not None and not scenes:
        raise NnreelError("No scenes given: name at least one (e.g. --scenes training,kernels).")
    factor = parse_options(PACE, {"pace": pace})["pace"]
    run_name = run or default_preset((scenes or DEFAULT_STORY)[0])
    paced = (("pace", str(pace)),)
    optional = scenes is None
    if optional:
        prepare_runs([RenderJob(DEFAULT_STORY[0], run_name)])  # trained first if a missing preset
        scenes = list(story_for(run_name))
    jobs = [RenderJob(s, run_name, quality, resolution, fps, paced) for s in scenes]
    renders = renders_folder(scenes)
    folder = renders / "lecture"
    folder.mkdir(parents=True, exist_ok=True)
    videos = render_jobs(jobs, renders, workers, optional)
    jobs = [job for job in jobs if job in videos]
    if not jobs:
        raise RunError(f"No scene of the story can film run {run_name!r} (see above).")
    target = output or folder / f"lecture-{Path(run_name).name}-{quality}.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    fmt = video_format(videos[jobs[0]])
    subtitle = describe_run(run_name)
    segments, chapters, timed_captions, clock = [], [], [], 0.0
    for number, job in enumerate(jobs, start=1):
        title = f"Part {number} · {part_title(job.scene)}"
        card = write_card(
            card_image(title, subtitle, fmt.width, fmt.height),
            folder / f".card-{number}-{fmt.width}x{fmt.height}.mp4",
            fmt,
            CARD_SECONDS * factor,
        )
        part = videos[job]
        if video_format(part) != fmt:
            raise NnreelError(f"{part} is encoded differently from the other parts; re-render it.")
        card_seconds, part_seconds = duration(card), duration(part)
        heading = srt.Subtitle(0, dt.timedelta(0), dt.timedelta(seconds=card_seconds), title)
        timed_captions += [(clock, [heading]), (clock + card_seconds, read_captions(part))]
        chapters.append((title, clock, clock + card_seconds + part_seconds))
        segments += [card, part]
        clock += card_seconds + part_seconds
    captions = target.with_suffix(".srt")
    captions.write_text(srt.compose(merge_captions(timed_captions)), encoding="utf-8")
    join(segments, chapters_text(chapters), captions, target)
    for segment in segments[::2]:
        segment.unlink(missing_ok=True)
    return target
