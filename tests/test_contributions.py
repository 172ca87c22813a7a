"""Weight contributions: the arithmetic on a hand-made network with known weights, then on a
recorded run, where the contributions plus the bias must give the recorded pre-activation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.analysis.contributions import (
    contributions,
    input_maps,
    path,
    ranking,
    recorded_weights,
    trace,
)
from engine.errors import RunError

# A 2 → 3 → 3 → 1 network whose largest |w| are chosen by hand, one of them negative.
W1 = np.array([[0.5, -2.0], [1.0, 0.1], [0.3, 0.3]])
W2 = np.array([[0.2, 0.1, 0.0], [-0.5, 3.0, 0.4], [-4.0, 0.5, 1.0]])
W3 = np.array([[0.9, -1.5, 1.2]])
B = [np.array([0.1, 0.2, 0.3]), np.array([0.0, -1.0, 1.0]), np.array([0.5])]


def test_contributions_keep_the_sign_and_scale_by_w():
    maps = np.array([[[1.0, 2.0]], [[3.0, 0.0]]])
    parts = contributions(maps, np.array([2.0, -0.5]))
    assert parts.tolist() == [[[2.0, 4.0]], [[-1.5, -0.0]]]
    with pytest.raises(ValueError):
        contributions(maps, np.array([1.0, 2.0, 3.0]))


def test_ranking_is_by_absolute_weight_and_stable():
    assert ranking(np.array([0.5, -2.0, 2.0, 0.1])).tolist() == [1, 2, 0, 3]
    assert ranking(np.array([0.5, 2.0, -2.00001, 0.1])).tolist() == [1, 2, 0, 3]  # near-tie


def test_trace_follows_the_largest_absolute_weight_back_to_the_input():
    hops = trace([W1, W2, W3], B)
    # output: |-1.5| is largest → hidden2 unit 1; its |3.0| → hidden1 unit 1; its |1.0| → x.
    assert [(h.column, h.unit) for h in hops] == [(3, 0), (2, 1), (1, 1)]
    assert [h.strongest for h in hops] == [1, 1, 0]
    assert hops[0].bias == 0.5 and hops[1].bias == -1.0
    assert path(hops) == [(3, 0), (2, 1), (1, 1), (0, 0)]
    # From hidden2 unit 2 instead (a 2-layer slice): |-4.0| wins although it is negative.
    assert trace([W1, W2], start=2)[0].strongest == 0
    with pytest.raises(ValueError):
        trace([W1, W2, W3], start=1)


def test_contributions_sum_to_the_pre_activation_of_a_real_forward_pass():
    """On the hand-made network in torch: Σ input map × w + b is the neuron's input."""
    layers = [torch.nn.Linear(2, 3), torch.nn.Linear(3, 3), torch.nn.Linear(3, 1)]
    for layer, w, b in zip(layers, [W1, W2, W3], B, strict=True):
        layer.weight.data = torch.tensor(w, dtype=torch.float32)
        layer.bias.data = torch.tensor(b, dtype=torch.float32)
    plane = input_maps([-1.5, 1.5, -1.5, 1.5], 8)  # [2, 8, 8]
    h1 = torch.relu(layers[0](torch.tensor(plane.reshape(2, -1).T)))
    pre2 = layers[1](h1)
    maps = h1.T.reshape(3, 8, 8).detach().numpy()
    hop = trace([W1, W2, W3], B)[1]
    total = contributions(maps, hop.weights).sum(axis=0) + hop.bias
    assert np.allclose(total, pre2[:, hop.unit].reshape(8, 8).detach().numpy(), atol=1e-5)


def test_input_maps_are_the_recorders_mesh():
    from engine.recording.planes import plane_mesh

    extent, mesh = [-1.0, 2.0, -0.5, 1.5], 5
    maps = input_maps(extent, mesh)
    assert np.allclose(maps.reshape(2, -1).T, plane_mesh(extent, mesh).numpy())
    assert maps[1, 0, 0] == 1.5 and maps[0, 0, 0] == -1.0  # row 0 is the top (y = ymax)


# -- on a recorded run ------------------------------------------------------------------------
def test_recorded_contributions_sum_to_the_recorded_pre_activation(ring):
    from engine.store import Run, schema

    run = Run(ring)
    recorded = recorded_weights(run)
    assert recorded.names == ["input", "hidden1", "hidden2", "output"]
    assert recorded.widths == [2, 9, 9, 1]
    assert np.array_equal(recorded.steps, run.steps(schema.PLANE_PROB))
    hops = trace([w[-1] for w in recorded.weights], [b[-1] for b in recorded.biases])
    output, second, first = hops
    assert output.strongest == int(np.argmax(np.abs(recorded.weights[2][-1, 0])))
    assert second.unit == output.strongest and first.unit == second.strongest
    hidden2 = run.read(schema.plane("hidden2"), -1).astype(np.float32)
    total = contributions(hidden2, output.weights).sum(axis=0) + output.bias
    logit = run.read(schema.plane("output"), -1).astype(np.float32)[0]
    assert np.abs(total - logit).max() < 0.02 * max(1.0, np.abs(logit).max())  # fp16 rounding
    hidden1 = run.read(schema.plane("hidden1"), -1).astype(np.float32)
    total = contributions(hidden1, second.weights).sum(axis=0) + second.bias
    pre = run.read(schema.plane_pre("hidden2"), -1).astype(np.float32)[second.unit]
    assert np.abs(total - pre).max() < 0.02 * max(1.0, np.abs(pre).max())
    assert recorded.limits()[2] == pytest.approx(np.abs(recorded.weights[2]).max())


def test_a_cnn_run_is_refused_with_what_to_do(ring):
    from engine.store import Run

    run = Run(ring)
    conv = {"name": "conv1", "kind": "conv", "output_shape": [8, 4, 4], "params": 80, "macs": 0}
    run.manifest["layers"] = [conv]
    with pytest.raises(RunError, match=r"not an MLP.*conv1 \(conv\).*engine train mlp-ring"):
        recorded_weights(run)
