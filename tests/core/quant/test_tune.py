"""Weight tuning: the simulated int8 model moves towards the fp32 model, the weights go back by name, Cancel stops it."""

from __future__ import annotations

import numpy as np
from onnx import numpy_helper
import pytest

from core.jobs import Cancelled
from core.quant.tune import TuneOptions, trainable_names, tune_weights, write_back
from core.techniques import onnx_quant_common as oq
from tests.core.techniques.quant_helpers import quadrants


@pytest.fixture(scope="module")
def graphs(cnn_int8):
    return cnn_int8[1], cnn_int8[2]


def test_tuning_lowers_the_int8_logit_error_and_reports_each_epoch(graphs):
    pre_proto, q_proto = graphs
    names = [op.weight for op in oq.weight_ops(pre_proto)]
    epochs: list[tuple[int, float]] = []
    progress: list[float] = []
    result = tune_weights(pre_proto, q_proto, names, quadrants().calib, TuneOptions(epochs=3, lr=1e-5, threads=1),
                          lambda f, m: progress.append(f), lambda: None, lambda e, loss, s: epochs.append((e, loss)))
    assert result.loss_after < 0.9 * result.loss_before  # measured: 1.06e-4 -> 0.89e-4
    assert [e for e, _ in epochs] == [1, 2, 3] and result.steps == 3 * -(-result.images // 16)
    assert progress == sorted(progress) and max(progress) < 1
    assert set(result.weights) == set(trainable_names(pre_proto, names)) and len(result.weights) > len(names)  # + biases


def test_write_back_changes_only_the_tuned_initializers(graphs):
    pre_proto, _ = graphs
    import onnx

    proto = onnx.ModelProto()
    proto.CopyFrom(pre_proto)
    name = oq.weight_ops(proto)[0].weight
    before = {i.name: numpy_helper.to_array(i).copy() for i in proto.graph.initializer}
    write_back(proto, {name: before[name] + 1})
    after = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    assert np.array_equal(after[name], before[name] + 1)
    assert all(np.array_equal(after[k], v) for k, v in before.items() if k != name)


def test_cancel_stops_tuning(graphs):
    pre_proto, q_proto = graphs
    calls = {"n": 0}

    def check() -> None:
        calls["n"] += 1
        if calls["n"] > 5:
            raise Cancelled()

    with pytest.raises(Cancelled):
        tune_weights(pre_proto, q_proto, [op.weight for op in oq.weight_ops(pre_proto)], quadrants().calib,
                     TuneOptions(epochs=50, threads=1), lambda f, m: None, check)


def test_when_no_epoch_helps_on_held_out_images_the_weights_stay_as_they_were(graphs):
    """A rate far too high makes every epoch worse on the held-out images: the untouched weights are kept."""
    from onnx import numpy_helper

    pre_proto, q_proto = graphs
    names = [op.weight for op in oq.weight_ops(pre_proto)]
    result = tune_weights(pre_proto, q_proto, names, quadrants().calib, TuneOptions(epochs=2, lr=0.05, threads=1),
                          lambda f, m: None, lambda: None)
    assert result.kept_epoch == 0 and result.held_out >= 8 and min(result.scores[1:]) > result.scores[0]
    original = {i.name: numpy_helper.to_array(i) for i in pre_proto.graph.initializer}
    assert all(np.array_equal(result.weights[n], original[n]) for n in names)


def test_the_held_out_images_are_the_last_ones_and_never_too_few():
    import torch

    from core.quant.tune import split_held_out

    images = torch.arange(50.0).reshape(50, 1)
    train, held = split_held_out(images, 0.2)
    assert held.flatten().tolist() == list(range(40, 50)) and len(train) == 40
    train, held = split_held_out(images[:20], 0.2)  # 4 held out would be noise: none
    assert len(held) == 0 and len(train) == 20


def test_a_selection_split_chooses_the_epoch_and_all_tuning_images_train(graphs):
    pre_proto, q_proto = graphs
    data = quadrants()
    result = tune_weights(pre_proto, q_proto, [op.weight for op in oq.weight_ops(pre_proto)], data.calib,
                          TuneOptions(epochs=1, lr=1e-5, threads=1, select_images=16), lambda f, m: None, lambda: None,
                          select=data.val)
    assert result.held_out == min(16, len(data.val)) and result.images == len(data.calib)
    assert len(result.scores) == 2


def test_the_targets_come_from_the_teacher_graph_not_the_rewritten_one(graphs):
    """Bias correction rewrites the fp32 graph: the outputs to match are still the input model's."""
    import onnx

    pre_proto, q_proto = graphs
    shifted = onnx.ModelProto()
    shifted.CopyFrom(pre_proto)
    op = oq.weight_ops(shifted)[-1]
    bias = next(n for n in shifted.graph.node if n.name == op.node).input[2]
    write_back(shifted, {bias: numpy_helper.to_array(next(i for i in shifted.graph.initializer if i.name == bias)) + 1.0})
    names = [o.weight for o in oq.weight_ops(shifted)]
    options = TuneOptions(epochs=1, lr=1e-9, threads=1)
    itself = tune_weights(shifted, q_proto, names, quadrants().calib, options, lambda f, m: None, lambda: None)
    teacher = tune_weights(shifted, q_proto, names, quadrants().calib, options, lambda f, m: None, lambda: None,
                           teacher=pre_proto)
    assert teacher.scores[0] > 0.5 > itself.scores[0]  # every logit of the shifted graph is 1 off the teacher's
