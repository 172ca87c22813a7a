"""Activation maximisation: objectives that compose and stay per-image, images that really raise
their unit, dead units found, clear errors, and recordings that round-trip through the store."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.actmax import (
    Activations,
    ColourStats,
    Regularizers,
    RenderSettings,
    Transforms,
    channel,
    class_logit,
    deepdream,
    diversity,
    forward_to,
    frozen,
    load_actmax,
    make_param,
    neuron,
    random_affine,
    record_actmax,
    recorded_layers,
    render,
    total_variation,
    unit_objective,
)
from engine.actmax.param import spectrum_scale
from engine.actmax.record import imagenet_run, training_images, unit_maxima
from engine.actmax.render import Optimisation, RedirectedReLU
from engine.cli import main
from engine.errors import NnreelError, UnknownNameError
from engine.models import build_model
from engine.presets import preset_config
from engine.recording import load_model
from engine.recording.schedule import log_spaced
from engine.store import Run
from engine.training import train

FAST = RenderSettings(steps=24, frames=8, check_every=4)


def small_cnn(seed: int = 0, channels: int = 1):
    torch.manual_seed(seed)
    return build_model("smallcnn", in_channels=channels).eval()


def slim_vgg(seed: int = 0):
    """BatchNorm and dense layers included, at a width that runs in milliseconds."""
    torch.manual_seed(seed)
    return build_model("vgg16", width=1 / 16).eval()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    config = preset_config("smallcnn-synth")
    config.data_settings.update(train_size=512, val_size=128)
    config.epochs, config.batch_size, config.record = 1, 32, None
    folder = tmp_path_factory.mktemp("runs") / "cnn"
    train(config, folder, quiet=True)
    return folder


def test_weighted_sums_have_the_weighted_sum_of_gradients():
    model = slim_vgg()
    x = torch.rand(4, *model.input_shape)
    a, b, c = channel("conv2_1", [0, 1, 2, 3]), neuron("fc1", [5, 6, 7, 8]), deepdream("conv3_1")

    def grad(objective):
        image = x.clone().requires_grad_(True)
        objective(forward_to(model, image, objective.layers)).sum().backward()
        return image.grad

    combined = grad(a - 0.1 * b + 2 * c)
    expected = grad(a) - 0.1 * grad(b) + 2 * grad(c)
    assert combined.abs().max() > 0
    torch.testing.assert_close(combined, expected, rtol=1e-4, atol=1e-6)
    assert sum([a, b]).describe() == "channel conv2_1[0,1,2,3] + neuron fc1[5,6,7,8]"
    assert (a - 0.1 * b).describe().endswith("- 0.1·neuron fc1[5,6,7,8]")


def test_each_image_is_driven_by_its_own_objective_only():
    """Through the Fourier parameters, the transforms and BatchNorm: d objective_i / d image_j
    is zero for j != i, so one batch equals separate optimisations."""
    model = slim_vgg()
    objective = channel("conv3_1", [0, 1, 2])
    with frozen(model):
        opt = Optimisation(model, objective, 3, RenderSettings())
        seen = random_affine(opt.param(), opt.settings.transforms, opt.fill, opt.generator)
        scores = objective(forward_to(model, seen, objective.layers))
        for i in range(3):
            (grad,) = torch.autograd.grad(scores[i], opt.param.spectrum, retain_graph=True)
            norms = grad.flatten(1).norm(dim=1)
            assert norms[i] > 0
            assert torch.all(norms[torch.arange(3) != i] == 0)


def test_optimised_images_raise_their_unit_well_above_the_starting_noise(trained_run):
    run = Run(trained_run)
    model, unit = load_model(run), channel("conv2", list(range(8)))
    # The optimiser alone: the default light blur trades a little activation in so few steps
    # for fewer specks (what it costs over a full run: bench/speckle_bench.py).
    plain = Regularizers(blur_every=0)
    settings = RenderSettings(steps=48, frames=8, check_every=4, regularizers=plain)
    result = render(model, unit, 8, settings, quiet=True)
    data_max, _ = unit_maxima(model, unit, training_images(run))
    live = ~result.dead
    np.testing.assert_array_equal(live, data_max > 0)  # dead here, silent on all the data too
    assert live.sum() >= 4
    assert np.all(result.best_values[live] > 2 * result.values[0, live])
    assert np.mean(result.best_values[live] > data_max[live]) >= 0.5
    assert np.all(result.best_values >= result.values.max(axis=0) - 1e-5)


def test_frames_follow_the_log_spaced_schedule():
    settings = RenderSettings(steps=40, frames=12)
    result = render(small_cnn(), channel("conv1", [0, 1]), 2, settings, quiet=True)
    expected = log_spaced(12, 40)
    np.testing.assert_array_equal(result.steps, expected)
    assert result.frames.shape == (len(expected), 2, 1, 28, 28)
    assert result.frames.dtype == np.uint8 and result.values.shape == (len(expected), 2)
    assert np.diff(expected[:4]).max() == 1 and np.diff(expected).max() > 4  # dense early


def test_a_killed_filter_is_reported_dead_and_the_others_are_not():
    model = small_cnn()
    with torch.no_grad():
        model.layer("conv1").conv.bias[3] = -1e4
    result = render(model, channel("conv1", list(range(8))), 8, FAST, quiet=True)
    assert result.dead.tolist() == [i == 3 for i in range(8)]
    assert result.best_values[3] == 0


def test_a_unit_silent_on_the_starting_noise_is_revived_not_called_dead():
    """Redirected ReLU gradients in the first steps: a filter whose bias keeps it just below
    zero on the start image still gets a gradient and fires; without them it stays silent."""
    model, unit = small_cnn(), channel("conv1", [0])
    with frozen(model):
        start = Optimisation(model, unit, 1, RenderSettings()).param()
        conv = model.layer("conv1").conv
        peak = conv(model.layer("normalize")(start))[0, 0].max()
        with torch.no_grad():
            conv.bias[0] -= peak + 0.05
    settings = RenderSettings(steps=40, frames=4, transforms=Transforms())
    revived = render(model, unit, 1, settings, quiet=True)
    stuck = render(model, unit, 1, replace(settings, redirect_steps=0), quiet=True)
    assert revived.values[0, 0] == 0 and stuck.dead[0]
    assert not revived.dead[0] and revived.best_values[0] > 0


def test_render_leaves_the_model_as_it_found_it():
    model = small_cnn().train()
    model.layer("conv2").conv.weight.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    render(model, class_logit("fc", [1, 2]), 2, FAST, quiet=True)
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert not any(isinstance(m, RedirectedReLU) for m in model.modules())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_same_seed_same_images_other_seed_other_images():
    def frames(seed):
        settings = RenderSettings(steps=6, frames=4, seed=seed)
        return render(small_cnn(), channel("conv1", [0, 1]), 2, settings, quiet=True).frames

    np.testing.assert_array_equal(frames(1), frames(1))
    assert not np.array_equal(frames(1), frames(2))


def test_unknown_layers_and_units_name_the_valid_ones():
    model = small_cnn()
    with pytest.raises(UnknownNameError, match="conv1, pool1, conv2"):
        render(model, channel("conv9", [0]), 1, FAST, quiet=True)
    with pytest.raises(UnknownNameError, match=r"conv1 unit 64.*0 to 63"):
        render(model, channel("conv1", [0, 64]), 2, FAST, quiet=True)
    with pytest.raises(UnknownNameError, match=r"fc unit -1.*0 to 9"):
        render(model, class_logit("fc", [-1]), 1, FAST, quiet=True)
    with pytest.raises(NnreelError, match="feature map"):
        render(model, channel("fc", [0]), 1, FAST, quiet=True)
    with pytest.raises(NnreelError, match="one unit per image"):
        render(model, channel("conv1", [0, 1, 2]), 2, FAST, quiet=True)
    with pytest.raises(UnknownNameError, match="fourier, pixel"):
        render(model, channel("conv1", [0]), 1, RenderSettings(param="fft"), quiet=True)


@pytest.mark.parametrize("kind", ["fourier", "pixel"])
@pytest.mark.parametrize("channels", [1, 3])
def test_parameterisations_give_valid_images(kind, channels):
    rng = torch.Generator().manual_seed(0)
    data = (torch.rand(64, channels, 16, 16, generator=rng) * 255).to(torch.uint8)
    if channels == 3:
        data[:, 1] = data[:, 0] // 2 + data[:, 1] // 2  # correlated channels
    colour = ColourStats.from_images(data)
    param = make_param(kind, 5, (channels, 16, 16), colour, sd=3.0, generator=rng)
    images = param()
    assert images.shape == (5, channels, 16, 16)
    assert images.min() >= 0 and images.max() <= 1 and images.std() > 0.1
    linear = param.linear().detach() * 0.5
    param.set_linear(linear)
    torch.testing.assert_close(param.linear(), linear, atol=1e-5, rtol=1e-4)


def test_decorrelation_is_a_square_root_of_the_data_covariance():
    cov = torch.tensor([[4.0, 1.8, 0.5], [1.8, 1.0, 0.2], [0.5, 0.2, 0.5]]) / 100
    colour = ColourStats((0.4, 0.5, 0.6), tuple(map(tuple, cov.tolist())))
    root = colour.sqrt_cov().double()
    product = root @ root.T
    torch.testing.assert_close(product / product[0, 0], cov.double() / cov[0, 0], rtol=1e-4, atol=0)
    assert torch.isclose(root.norm(dim=0).max(), torch.tensor(1.0, dtype=torch.float64))
    grey = ColourStats.from_images(torch.full((2, 1, 4, 4), 7, dtype=torch.uint8))
    assert grey.sqrt_cov().tolist() == [[1.0]]


def test_fourier_scale_favours_low_frequencies_at_unit_rms():
    scale = spectrum_scale(28, 28)
    assert scale[0, 0] == scale.max() and scale[14, 14] == scale.min()
    full = torch.cat([scale, scale[:, 1:-1].flip(1)], dim=1)  # both halves of the spectrum
    assert torch.isclose(full.pow(2).mean(), torch.tensor(1.0))


def test_transform_amounts_follow_the_input_size():
    assert Transforms.for_size(224) == Transforms(pad=12, jitter=8, scale=0.1, rotate=10)
    small = Transforms.for_size(28)
    assert small.jitter == 1 and small.pad == 1.5
    images = torch.rand(3, 2, 28, 28)
    assert random_affine(images, Transforms(), torch.zeros(2)) is images
    fill = torch.tensor([0.25, 0.75])
    moved = random_affine(images, Transforms(pad=6), fill)  # a 6-px margin of fill colour
    torch.testing.assert_close(moved[:, :, 0, 0], fill.expand(3, 2))
    assert moved.shape == images.shape


def test_step_regularisers_blur_decay_and_clip():
    rng = torch.Generator().manual_seed(0)
    param = make_param("pixel", 2, (1, 16, 16), ColourStats((0.5,), ((0.01,),)), generator=rng)
    before = param.linear().detach().clone()
    tv = total_variation()

    def roughness(image):
        return tv(Activations(image, {})).sum()

    Regularizers(blur_every=2).apply(param, step=1)  # not a blur step
    torch.testing.assert_close(param.linear(), before)
    Regularizers(blur_every=2, blur_sigma=1.0).apply(param, step=2)
    assert roughness(param.linear().detach()) < 0.2 * roughness(before)
    Regularizers(decay=0.5).apply(param, step=1)
    Regularizers(clip_percentile=50).apply(param, step=1)
    assert (param.linear() == 0).float().mean() >= 0.5


def test_penalties_are_subtracted_and_the_unit_is_what_is_recorded():
    model = small_cnn()
    settings = RenderSettings(steps=8, frames=4, regularizers=Regularizers(total_variation=5.0))
    plain = RenderSettings(steps=8, frames=4)
    unit = channel("conv1", [0, 1])
    penalised = render(model, unit, 2, settings, quiet=True)
    free = render(model, unit, 2, plain, quiet=True)
    assert np.all(penalised.values >= 0)  # a channel mean, not activation minus penalty
    assert not np.array_equal(penalised.frames[-1], free.frames[-1])


def test_diversity_pushes_apart_images_of_the_same_group_only():
    model = small_cnn()
    x = torch.rand(4, 1, 28, 28)
    same = torch.cat([x[:1], x[:1], x[2:]])
    term = diversity("conv1", groups=[0, 0, 1, 1])
    value = term(forward_to(model, same, ["conv1"]))
    torch.testing.assert_close(value[:2], torch.tensor([-1.0, -1.0]))
    assert value[2] > -1
    image = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(term(forward_to(model, image, ["conv1"]))[0], image)
    assert grad[1].abs().max() > 0 and grad[2:].abs().max() == 0


def test_recording_round_trips_and_recording_again_replaces(trained_run):
    classes = record_actmax(trained_run, settings=FAST, candidates=2, quiet=True)
    assert classes.layer == "fc" and classes.units == list(range(10))
    assert classes.labels == [str(d) for d in range(10)]
    assert classes.probabilities.shape == classes.values.shape
    assert np.all(classes.probabilities[-1] > classes.probabilities[0])
    assert classes.probabilities[-1].mean() > 0.2  # twice chance, for a barely trained net
    assert classes.dataset_max.shape == (10,) and np.all(classes.dataset_max > 0)

    first = record_actmax(trained_run, "conv2", "all", RenderSettings(steps=2), quiet=True)
    again = record_actmax(trained_run, "conv2", "3,1", FAST, candidates=1, quiet=True)
    rec = load_actmax(trained_run, "conv2")
    assert first.frames.shape[1] == 32
    assert rec.units == [3, 1] and rec.probabilities is None
    np.testing.assert_array_equal(rec.steps, log_spaced(FAST.frames, FAST.steps))
    assert rec.frames.shape == (len(rec.steps), 2, 1, 28, 28) and rec.frames.dtype == np.uint8
    assert rec.best.shape == (2, 1, 28, 28) and rec.dead.dtype == bool
    np.testing.assert_array_equal(rec.frames, again.frames)
    np.testing.assert_array_equal(rec.best_values, again.best_values)
    model = load_model(trained_run)
    with torch.no_grad():  # the stored value is the activation of the stored image
        stored = torch.from_numpy(rec.best).float() / 255
        value = unit_objective(model, "conv2", [3, 1])(forward_to(model, stored, ["conv2"]))
    np.testing.assert_allclose(value.numpy(), rec.best_values, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rec.image(-1, 1), rec.frames[-1, 1, 0])

    manifest = json.loads((trained_run / "manifest.json").read_text())
    conv2 = sorted(n for n in manifest["streams"] if n.startswith("actmax/conv2/"))
    assert conv2 == [
        f"actmax/conv2/{s}" for s in ("best", "best_values", "dead", "frames", "values")
    ]
    files = sorted(p.name for p in (trained_run / "streams/actmax/conv2").iterdir())
    assert len(files) == 2 * len(conv2)
    assert recorded_layers(Run(trained_run)) == ["conv2", "fc"]


def test_reading_a_layer_that_was_not_recorded_says_how_to_record_it(trained_run):
    with pytest.raises(NnreelError, match=r"actmax .* --layer pool1"):
        load_actmax(trained_run, "pool1")


def test_cli_records_and_summarises(trained_run, capsys):
    args = ["actmax", str(trained_run), "--layer", "conv1", "--units", "0,5", "--quiet"]
    assert main([*args, "--steps", "6", "--frames", "3"]) == 0
    assert load_actmax(trained_run, "conv1").units == [0, 5]
    assert main(["actmax", str(trained_run), "--layer", "conv7", "--quiet"]) == 2
    assert "Unknown layer 'conv7'" in capsys.readouterr().err


def test_imagenet_without_weights_says_so_and_never_uses_random_weights(tmp_path):
    missing = tmp_path / "vgg16-397923af.pth"
    with pytest.raises(NnreelError, match=r"weights not found.*never substitutes random"):
        imagenet_run(tmp_path / "imagenet", missing)
    assert not (tmp_path / "imagenet").exists()
    argv = ["actmax", "--imagenet", "--weights", str(missing), str(tmp_path / "imagenet")]
    assert main(argv) == 2
    assert not (tmp_path / "imagenet").exists()
