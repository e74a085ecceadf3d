"""quantize.qat: a trained int8 QDQ ONNX model that ONNX Runtime runs as int8, from a private copy of the model."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto
from torch import nn

from core.jobs import Cancelled, CancelToken
from core.models.exported import ProgramModule
from core.models.onnx_model import OnnxModel
from core.techniques import ONNX, get
from core.techniques import onnx_quant_common as oq
from core.techniques.base import StepContext, TechniqueError
from core.techniques.quantize_qat import FILE_NAME, QuantizeQAT, untie_shared_modules
from tests.core.small_models import BlockNet, learnable_bundle, loaded, trained_blocknet

SHAPE = (3, 16, 16)
FAST = dict(batch_size=16, augment=False, lr=0.01)  # small data: small batches, no jitter


@pytest.fixture(scope="module")
def data():
    return learnable_bundle(shape=SHAPE)


@pytest.fixture(scope="module")
def net(data) -> BlockNet:
    return trained_blocknet(data, epochs=6)


@pytest.fixture(scope="module")
def qat(net, data, tmp_path_factory):
    """One QAT run shared by the tests below: 2 epochs, BN and ranges frozen for the second."""
    before = copy.deepcopy(net.state_dict())
    workdir = tmp_path_factory.mktemp("qat")
    progress: list[tuple[float, str]] = []
    ctx = StepContext(data=data, workdir=workdir, threads=1, progress=lambda f, m: progress.append((f, m)))
    out = QuantizeQAT(epochs=2, freeze_bn_after=1, freeze_observers_after=1, **FAST).apply(loaded(net), ctx)
    return out, workdir, before, progress


def _val(data) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*(data.val[i] for i in range(len(data.val))))
    return torch.stack(list(xs)).numpy(), np.asarray(ys)


def _producers(proto) -> dict[str, onnx.NodeProto]:
    return {o: n for n in proto.graph.node for o in n.output}


def test_registered_as_an_onnx_step_with_documented_parameters():
    info = get("quantize.qat")
    assert (info.side, info.family, info.accepts_onnx) == (ONNX, "Quantization", False)
    config = info.config()
    assert (config.epochs, config.per_channel, config.kd_alpha) == (3, True, 0.0)
    assert config.lr <= 0.01
    names = {p.name for p in info.params}
    assert {"epochs", "lr", "batch_size", "kd_alpha", "temperature", "freeze_bn_after", "freeze_observers_after", "per_channel"} <= names
    assert all(p.spec.label and p.spec.help for p in info.params)


def test_output_is_a_qdq_onnx_model_with_int8_weights(qat):
    out, workdir, _, progress = qat
    path = Path(out.model.runnable.path)
    assert path == workdir / FILE_NAME and out.model.is_onnx and out.model.name.endswith("+qat")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    counts = oq.op_counts(proto)
    assert counts["QuantizeLinear"] == out.extra["quantize_linear"] > 0
    assert counts["DequantizeLinear"] == out.extra["dequantize_linear"] > 0
    inits = oq.initializers(proto)
    producer = _producers(proto)
    weight_ops = [n for n in proto.graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(weight_ops) == 7  # 6 convolutions (BN folded) and the classifier
    for node in weight_ops:  # every weight is an int8 initializer behind a DequantizeLinear
        dq = producer[node.input[1]]
        assert dq.op_type == "DequantizeLinear"
        assert inits[dq.input[0]].data_type == TensorProto.INT8
    assert not [i.name for i in proto.graph.initializer if i.data_type == TensorProto.FLOAT and len(i.dims) >= 2]
    act_zero_points = {inits[n.input[2]].data_type for n in proto.graph.node if n.op_type == "QuantizeLinear"}
    assert act_zero_points == {TensorProto.UINT8}
    assert out.extra["int8_weights"] == 7 and out.extra["float_weights_quantized_at_runtime"] == 0
    assert not any(n.metadata_props for n in proto.graph.node)  # exporter stack traces are not shipped
    assert progress[-1][0] == 1.0 and all(b[0] >= a[0] for a, b in zip(progress, progress[1:]))


def test_onnx_runtime_runs_any_batch_and_agrees_with_fp32(qat, net, data):
    out, _, _, _ = qat
    x, y = _val(data)
    session = OnnxModel(Path(out.model.runnable.path))
    assert session.run_numpy(x[:1]).shape == (1, 4)
    assert session.run_numpy(x[:5]).shape == (5, 4)
    int8 = session.run_numpy(x).argmax(1)
    with torch.no_grad():
        fp32 = net.eval()(torch.from_numpy(x)).argmax(1).numpy()
    assert (int8 == fp32).mean() >= 0.95
    assert (int8 == y).mean() >= 0.9
    assert out.extra["onnx_torch_agreement"] >= 0.98 and out.extra["checked_samples"] == len(y)
    assert out.extra["onnx_accuracy"] == pytest.approx(float((int8 == y).mean()))


def test_onnx_runtime_fuses_every_layer_into_int8_kernels(qat, tmp_path):
    """Both inputs of each residual add are quantized, so no convolution is left to run in fp32."""
    import onnxruntime as ort

    out, _, _, _ = qat
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(out.model.runnable.path, opts, providers=["CPUExecutionProvider"])
    counts = oq.op_counts(onnx.load(str(tmp_path / "optimized.onnx")))
    assert counts.get("QLinearConv") == 6 and counts.get("QLinearAdd") == 2
    assert "Conv" not in counts and "FusedConv" not in counts


def test_training_history_freezing_and_per_layer_rows(qat):
    out, _, _, _ = qat
    assert [h["epoch"] for h in out.extra["history"]] == [1, 2]
    assert {e["event"] for e in out.extra["events"]} == {"BatchNorm statistics frozen", "int8 ranges frozen"}
    assert out.extra["conversion"] == "refolded"  # live BN trained, converted through the BN-folded twin
    assert out.extra["untied_modules"] == ["block1.relu", "block2.relu"]
    layers = {row["layer"]: row for row in out.layers}
    assert set(layers) == {"conv1", "block1.conv1", "block1.conv2", "block2.conv1", "block2.conv2", "block2.downsample.0", "fc"}
    assert layers["block2.conv1"]["weight"] == "int8 per-channel" and layers["block2.conv1"]["weight_scales"] == 16
    assert "validation accuracy" in out.summary and "smaller" in out.summary


def test_the_callers_module_is_left_untouched(qat, net):
    _, _, before, _ = qat
    after = net.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert type(net.block1.relu) is nn.ReLU and net.block1.relu.inplace


def test_bn_folded_first_per_tensor_weights_and_a_teacher(net, data, tmp_path):
    teacher = loaded(copy.deepcopy(net))
    out = QuantizeQAT(epochs=1, freeze_bn_after=0, per_channel=False, kd_alpha=0.5, **FAST).apply(
        loaded(net), StepContext(data=data, workdir=tmp_path, threads=1, baseline=teacher)
    )
    assert out.extra["conversion"] == "direct" and out.extra["onnx_torch_agreement"] >= 0.98
    assert "teacher α=0.5" in out.summary and out.extra["onnx_accuracy"] >= 0.9
    proto = onnx.load(out.model.runnable.path)
    inits = oq.initializers(proto)
    producer = _producers(proto)
    for node in (n for n in proto.graph.node if n.op_type == "Conv"):
        scale = inits[producer[node.input[1]].input[1]]
        assert list(scale.dims) in ([], [1])  # one scale per layer
    assert all(row["weight"] == "int8 per-tensor" for row in out.layers)


def test_untying_gives_each_call_its_own_copy_and_keeps_the_output():
    class Aliased(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.act = nn.ReLU(inplace=True)
            self.again = self.act  # the same module under a second name

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.again(self.conv(self.act(x)))

    torch.manual_seed(0)
    for model in (BlockNet().eval(), Aliased().eval()):
        x = torch.randn(2, *SHAPE)
        want = model(x.clone())
        untie_shared_modules(model, SHAPE)
        assert torch.allclose(model(x.clone()), want)
    assert model.act is model.again and len(model.act.copies) == 2


def test_cancel_during_training_stops_the_step(net, data, tmp_path):
    token = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if message.startswith("epoch"):
            token.cancel()

    ctx = StepContext(data=data, workdir=tmp_path, threads=1, progress=progress, cancel=token)
    with pytest.raises(Cancelled):
        QuantizeQAT(epochs=2, freeze_bn_after=0, **FAST).apply(loaded(net), ctx)
    assert not (tmp_path / FILE_NAME).exists()


class _DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if x.mean() > 0:  # Python control flow on a value: torch.export cannot trace it
            x = x * 2
        return self.fc(x.mean((2, 3)))


def test_models_that_cannot_be_retrained_give_a_technique_error(net, data, tmp_path):
    ctx = StepContext(data=data, workdir=tmp_path, threads=1)
    program = torch.export.export(copy.deepcopy(net).eval(), (torch.randn(2, *SHAPE),)).module()
    with pytest.raises(TechniqueError, match="torch.export program.*retrained"):
        QuantizeQAT().apply(loaded(ProgramModule(program)), ctx)
    with pytest.raises(TechniqueError, match="torch.export cannot trace") as err:
        QuantizeQAT(**FAST).apply(loaded(_DataDependent()), ctx)
    assert "quantize.static" in str(err.value)
    onnx_model = loaded(net)
    onnx_model.runnable = OnnxModel(tmp_path / "x.onnx")
    with pytest.raises(TechniqueError, match="ONNX model"):
        QuantizeQAT().apply(onnx_model, ctx)
    with pytest.raises(TechniqueError, match="kd_alpha"):
        QuantizeQAT(kd_alpha=0.5, **FAST).apply(loaded(net), ctx)


@pytest.mark.slow
def test_refolded_conversion_equals_torchaos_own(net, data):
    """The BN-folded shortcut gives the same int8 model as torchao's (slow) conversion of the live-BN graph."""
    import core.techniques.quantize_qat as q
    from torchao.quantization.pt2e import disable_observer
    from core.training import TrainConfig, train_classifier

    student = copy.deepcopy(net)
    q.untie_shared_modules(student, SHAPE)
    x = torch.from_numpy(_val(data)[0])
    with q._quiet():
        graph = q.prepare_graph(student, SHAPE, fold_bn=False, per_channel=True)
        train_classifier(q.QATModule(graph, 1, 1), data, TrainConfig(epochs=2, batch_size=16, lr=0.01, augment=False, threads=1))
        reference = copy.deepcopy(graph)
        ours, how, _ = q.convert_trained(graph, student, SHAPE, True, x)
        q.set_mode(reference, train=False, bn_live=False)
        reference.apply(disable_observer)
        theirs = q._convert(reference)  # live BN left in: torchao folds it itself
    assert how == "refolded"
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)
