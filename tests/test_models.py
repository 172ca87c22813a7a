"""The model zoo: architectures match the seeds' numbers, and layers expose real activations."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchinfo import summary

from engine.errors import NnreelError, UnknownNameError
from engine.models import build_model, builder_of, rebuild_model
from engine.models.vgg import imagenet_vgg16
from engine.summary import layer_table


def test_vggcifar_matches_seed_004_against_torchinfo():
    model = build_model("vggcifar")
    stats = summary(model, input_size=(1, 3, 32, 32), verbose=0)
    assert stats.total_params == 9_228_362
    assert abs(stats.total_mult_adds - 606e6) / 606e6 < 0.005
    table = layer_table(model)
    assert sum(row.params for row in table) == stats.total_params
    assert sum(row.macs for row in table) == stats.total_mult_adds


def test_vgg16_is_seed_000s_network():
    model = build_model("vgg16", in_channels=1, image_size=32)
    kinds = [layer.kind for _, layer in model.visible_layers()]
    assert kinds.count("conv") == 13 and kinds.count("pool") == 5
    assert abs(sum(p.numel() for p in model.parameters()) - 15.1e6) < 0.05e6
    shapes = {row.name: row.output_shape for row in layer_table(model)}
    assert shapes["conv1_1"] == [64, 32, 32] and shapes["pool5"] == [512, 1, 1]
    assert shapes["fc1"] == [512] and shapes["fc2"] == [256] and shapes["fc3"] == [10]
    assert all(
        isinstance(m.bn, nn.BatchNorm2d) for _, m in model.visible_layers() if m.kind == "conv"
    )


def test_vgg16_width_multiplier_slims_every_layer():
    slim = build_model("vgg16", width=0.25)
    shapes = {row.name: row.output_shape for row in layer_table(slim)}
    assert shapes["conv1_1"][0] == 16 and shapes["conv5_3"][0] == 128
    assert sum(p.numel() for p in slim.parameters()) < 1.1e6


def test_smallcnns_match_seed_003():
    mnist = build_model("smallcnn")
    assert [n for n, _ in mnist.visible_layers()] == [
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "flatten",
        "fc",
    ]
    assert (
        mnist.layer("conv1").conv.out_channels == 64
        and mnist.layer("conv2").conv.out_channels == 32
    )
    svhn = build_model("smallcnn", variant="svhn", in_channels=3, image_size=32)
    assert sum(p.numel() for p in svhn.parameters()) == 1_250_858


def test_mlp_default_is_seed_002s():
    model = build_model("mlp")
    assert model.config == {"hidden": [9, 9], "activation": "relu"}
    assert model.binary and model.output_layer.out_features == 1
    probs = model.probabilities(model(torch.randn(5, 2)))
    torch.testing.assert_close(probs.sum(1), torch.ones(5))


def test_no_inplace_activation_anywhere():
    for arch, settings in [("vgg16", {}), ("vggcifar", {}), ("smallcnn", {}), ("mlp", {})]:
        model = build_model(arch, **settings)
        for module in model.modules():
            assert not getattr(module, "inplace", False), (arch, module)


def test_layer_outputs_are_post_relu():
    model = build_model("vgg16", width=0.25).eval()
    seen = {}
    model.layer("conv2_1").register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    model(torch.rand(2, 1, 32, 32))
    assert seen["out"].min() >= 0 and (seen["out"] > 0).any()


def test_rebuild_from_description_gives_same_architecture():
    model = build_model("smallcnn", variant="svhn", in_channels=3, image_size=32)
    again = rebuild_model(builder_of(model))
    again.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(model.eval()(x), again.eval()(x))


def test_unknown_names_list_valid_ones():
    with pytest.raises(UnknownNameError, match=r"Unknown model 'vgg19'.*vgg16"):
        build_model("vgg19")
    with pytest.raises(UnknownNameError, match=r"conv1_1"):
        build_model("vgg16", width=0.25).layer("conv9")


def test_imagenet_vgg16_without_weights_says_so(tmp_path):
    with pytest.raises(NnreelError, match=r"weights not found.*never substitutes random"):
        imagenet_vgg16(tmp_path / "missing.pth")


def test_imagenet_vgg16_loads_torchvision_weights_under_readable_names(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.vgg16(weights=None).eval()
    path = tmp_path / "vgg16.pth"
    torch.save(reference.state_dict(), path)
    model = imagenet_vgg16(path)
    assert model.layer_names[1:3] == ["conv1_1", "conv1_2"] and model.layer_names[-1] == "fc8"
    x = torch.rand(1, 3, 224, 224)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference((x - mean) / std), rtol=1e-4, atol=1e-4)
