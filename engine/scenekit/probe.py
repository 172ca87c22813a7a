"""What scenes of CNN runs read about the probe: which image to follow, which layers have
recorded feature maps, what a layer's recorded output is. Shared so every scene words its
refusals and captions the same way."""

from __future__ import annotations

from pathlib import Path

from engine.errors import NnreelError, RunError
from engine.scenekit import theme
from engine.scenekit.base import dataset_name, model_name
from engine.scenekit.ownimage import image_file
from engine.store import LayerInfo, Run, schema
from engine.store.schema import ADD, CAT, CONV, DENSE, GAP, INPUT, MAP_KINDS, MERGE_KINDS, POOL

KIND_WORDS = {
    CONV: "convolution",
    POOL: "max pooling",
    GAP: "global average pooling",
    DENSE: "fully connected",
    ADD: "sum of two branches",
    CAT: "branches side by side",
}
"""What a layer of each kind does, as a caption names it."""


def pick_image(run: Run, requested: int | None) -> int:
    """Which example to follow: a probe image, or for a 2-D run a held-out point; as
    requested, else the fourth (a '3' on digits)."""
    probe = run.has(schema.PROBE_LABELS)
    if not probe and not run.has(schema.data_y("val")):
        return 0
    count = len(run.read(schema.PROBE_LABELS if probe else schema.data_y("val"), 0))
    if requested is None:
        return min(3, count - 1)
    if not 0 <= requested < count:
        what = f"the run's probe has {count} images" if probe else f"the run has {count} points"
        raise NnreelError(f"image={requested} is out of range: {what} (0 … {count - 1}).")
    return requested


FILE_NAME_CHARACTERS = 28
"""Where a scene names an image file, a longer name is cut in its middle: a subtitle has
room for the rest of its line and about this much."""
LABEL_FILE_CHARACTERS = 11
"""Under the input image the label ('cat.png: no label') has room for about 21 characters: a
longer name is left to the subtitle there ('own image: no label')."""


def file_words(path: Path) -> str:
    """``path``'s name, cut in the middle when long; its end keeps the suffix and the digits
    that tell one photo from the next: 'IMG_20261…001-crop-final.png'."""
    name = path.name
    if len(name) <= FILE_NAME_CHARACTERS:
        return name
    tail = 2 * (FILE_NAME_CHARACTERS - 1) // 3
    return f"{name[: FILE_NAME_CHARACTERS - 1 - tail]}…{name[-tail:]}"


def example_words(run: Run, index: int) -> str:
    """What the scene follows, to open a sentence: "One validation image of a '3'", or "The
    image cat.png" when ``image=`` named a file."""
    path = image_file(run)
    if path is not None:
        return f"The image {file_words(path)}"
    return f"One validation image of a '{class_of(run, index)}'"


def subject_words(run: Run) -> str:
    """What a scene's subtitle says it follows: "one validation image (MNIST)", or "the image
    cat.png" when ``image=`` named a file (which is not from the dataset)."""
    path = image_file(run)
    return (
        f"the image {file_words(path)}"
        if path is not None
        else f"one validation image ({dataset_name(run)})"
    )


def truth_words(run: Run, index: int) -> str:
    """What is known of its class: 'true class: 3', or 'cat.png: no label' for a file."""
    path = image_file(run)
    if path is not None:
        short = path.name if len(path.name) <= LABEL_FILE_CHARACTERS else "own image"
        return f"{short}: no label"
    return f"true class: {class_of(run, index)}"


def output_words(run: Run, info: LayerInfo, after: str = "after ") -> str:
    """What ``info``'s recorded output is, for a caption: ``after`` and its activation ("after
    ReLU"; a pool's is that of the layer it pools); "no activation before add" for an output
    that goes into a merge first (a residual block's last conv); "no activation" for another
    without one; "" when the run does not say (recorded before nnreel noted activations)."""
    while info.activation == "" and info.kind in (POOL, GAP) and info.inputs[:1] != [INPUT]:
        info = run.layer(info.inputs[0])
    if info.activation is None:
        return ""
    if info.activation:
        return f"{after}{info.activation}"
    merges = [i.name for i in run.layers if info.name in i.inputs and i.kind in MERGE_KINDS]
    return f"no activation before {merges[0]}" if merges else "no activation"


def class_of(run: Run, index: int) -> str:
    """The class name of probe image ``index`` (its number when the run names no classes)."""
    label = int(run.read(schema.PROBE_LABELS, 0)[index])
    classes = run.classes
    return str(classes[label]) if 0 <= label < len(classes) else str(label)


def recorded_map_layers(run: Run) -> list[LayerInfo]:
    """Conv and pool layers whose maps the run recorded, in network order."""
    return [
        info
        for info in run.layers
        if info.kind in MAP_KINDS
        and len(info.output_shape) == 3
        and run.has(schema.acts(info.name))
    ]


def map_layers(run: Run, scene: str, requested: list[str] | None = None) -> list[LayerInfo]:
    """The recorded map layers ``scene`` shows: all of them, or those ``requested`` (each
    checked, with the valid ones named when it is not a recorded map layer)."""
    recorded = recorded_map_layers(run)
    if not recorded:
        raise RunError(
            f"Run {run.name!r} ({model_name(run)} on {dataset_name(run)}) recorded no feature "
            f"maps: {scene} needs a CNN run with the activations of its conv layers (streams "
            "acts/<layer>). Show a CNN run, e.g. NNREEL_RUN=smallcnn-synth, or train one: "
            "python -m engine train vgg16-synth"
        )
    if not requested:
        return recorded
    chosen = []
    for name in requested:
        info = run.layer(name)  # an unknown name lists the run's layers
        if info not in recorded:
            raise NnreelError(
                f"Layer {name!r} of run {run.name!r} is a {info.kind} layer with output "
                f"{theme.shape_text(info.output_shape)}, not recorded feature maps. Layers "
                f"{scene} can show: {', '.join(i.name for i in recorded)}."
            )
        chosen.append(info)
    return chosen
