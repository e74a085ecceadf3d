from __future__ import annotations

import json

import pytest
import torch

from core.errors import ShapeMismatchError
from core.jobs import CancelToken, Cancelled
from core.metrics.latency import TimingOptions
from core.metrics import Comparison, ModelMetrics, compare_models, measure_model, param_counts
from core.models.macs import count_macs
from core.models.onnx_model import OnnxModel

from .conftest import TinyCNN, make_bundle, make_loaded

FAST = dict(timing=TimingOptions(warmup=1, repeats=3), eval_batch=10)
FAST1 = dict(timing=TimingOptions(threads=1, warmup=1, repeats=3), eval_batch=10)


def test_measure_torch_model_all_keys(tiny_cnn, bundle, tmp_path):
    seen: list[tuple[float, str]] = []
    metrics = measure_model(
        make_loaded(tiny_cnn), bundle, timing=TimingOptions(batch=2, threads=1, warmup=1, repeats=3), eval_batch=10, workdir=tmp_path,
        progress=lambda f, m: seen.append((f, m)),
    )
    assert isinstance(metrics, ModelMetrics)
    out = json.loads(json.dumps(metrics.to_dict()))
    for key in ("accuracy", "top5", "n_eval", "params", "nonzero_params", "macs", "size_bytes", "zip_bytes", "latency_ms"):
        assert key in out
    assert out["n_eval"] == len(bundle.val)
    assert 0.0 <= out["accuracy"] <= out["top5"] <= 1.0
    assert out["params"] == sum(p.numel() for p in tiny_cnn.parameters())
    assert out["nonzero_params"] == param_counts(tiny_cnn).nonzero
    assert out["macs"] == count_macs(tiny_cnn, (3, 16, 16)) > 0
    assert out["size_bytes"] > 0 and out["zip_bytes"] > 0
    lat = out["latency_ms"]
    assert lat["torch"] > 0 and lat["onnxruntime"] > 0
    assert (lat["batch"], lat["threads"]) == (2, 1)
    assert lat["p90"]["torch"] >= lat["torch"] and lat["p90"]["onnxruntime"] >= lat["onnxruntime"]
    assert out["latency"]["onnxruntime"]["repeats"] == 3
    assert (tmp_path / "model.onnx").is_file()  # the export for ONNX Runtime lands in workdir
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("export" in m for _, m in seen) and any("latency" in m for _, m in seen)


def test_a_torch_model_is_exported_once_and_sized_from_that_file(tiny_cnn, bundle, tmp_path, monkeypatch):
    import core.models.onnx_export as onnx_export

    calls: list = []
    real = onnx_export.export_onnx
    monkeypatch.setattr(onnx_export, "export_onnx", lambda *a, **k: calls.append(a) or real(*a, **k))
    metrics = measure_model(make_loaded(tiny_cnn), bundle, workdir=tmp_path, **FAST1)
    assert len(calls) == 1  # the ONNX Runtime file is also the one weighed
    assert metrics.size_bytes == (tmp_path / "model.onnx").stat().st_size


def test_measure_without_data_or_onnx(tiny_cnn):
    metrics = measure_model(make_loaded(tiny_cnn), None, backends=("torch",), **FAST)
    out = metrics.to_dict()
    assert out["accuracy"] is None and out["n_eval"] == 0
    assert out["latency_ms"]["onnxruntime"] is None and out["latency_ms"]["torch"] > 0
    assert set(metrics.latency) == {"torch"}


def test_unknown_shape_without_data_needs_one(tiny_cnn):
    with pytest.raises(ShapeMismatchError, match="input shape"):
        measure_model(make_loaded(tiny_cnn, input_shape=None), None, backends=("torch",), **FAST)
    given = measure_model(make_loaded(tiny_cnn, input_shape=None), None, input_shape=(3, 8, 8), backends=(), **FAST)
    assert given.input_shape == (3, 8, 8) and given.macs == count_macs(tiny_cnn, (3, 8, 8))


def test_measure_onnx_model(tiny_onnx, bundle, monkeypatch):
    import core.models as models

    # MACs of an ONNX model come from the inspector; stand in for it so this test stays in scope
    class Report:
        total_macs = 12345

    monkeypatch.setattr(models, "inspect_model", lambda loaded, shape: Report(), raising=False)
    path, module = tiny_onnx
    onnx_metrics = measure_model(make_loaded(OnnxModel(path)), bundle, **FAST1)
    torch_metrics = measure_model(make_loaded(module), bundle, backends=(), **FAST)
    assert set(onnx_metrics.latency) == {"onnxruntime"}
    assert onnx_metrics.to_dict()["latency_ms"]["torch"] is None
    assert onnx_metrics.size_bytes == path.stat().st_size
    assert onnx_metrics.macs == 12345
    assert onnx_metrics.accuracy == pytest.approx(torch_metrics.accuracy)
    # params are the deployed graph's float weights (the exporter folds BatchNorm into the conv)
    import onnx

    floats = [i for i in onnx.load(str(path)).graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
    assert onnx_metrics.params == sum(int(torch.tensor(list(i.dims)).prod()) for i in floats)
    assert onnx_metrics.params >= 8 * 3 * 9 + 8 * 10 + 10  # at least conv and fc weights


def test_onnx_macs_failure_is_a_note_not_a_crash(tiny_onnx, monkeypatch):
    import core.models as models

    def broken(loaded, shape):
        raise RuntimeError("inspector broke")

    monkeypatch.setattr(models, "inspect_model", broken, raising=False)
    metrics = measure_model(make_loaded(OnnxModel(tiny_onnx[0])), None, **FAST)
    assert metrics.macs is None
    assert any("inspector broke" in n for n in metrics.notes)


def test_compare_model_with_itself(tiny_cnn, bundle):
    model = make_loaded(tiny_cnn)
    comparison = compare_models(model, model, bundle, **FAST1)
    assert isinstance(comparison, Comparison)
    assert comparison.agreement == 1.0
    r = comparison.ratios
    assert r["size"] == 1.0 and r["zip"] == 1.0 and r["params"] == 1.0 and r["macs"] == 1.0
    assert r["speedup_torch"] > 0 and r["speedup_onnxruntime"] > 0
    out = json.loads(json.dumps(comparison.to_dict()))
    assert out["a"]["latency"]["torch"]["repeats"] == out["b"]["latency"]["torch"]["repeats"] == 3


def test_compare_sees_a_different_model(tiny_cnn, bundle):
    torch.manual_seed(5)
    other = TinyCNN(num_classes=10).eval()
    with torch.no_grad():
        other.fc.weight.mul_(-1)  # flips the ranking: top-1 mostly changes
        for p in other.parameters():
            p[p.abs() < p.abs().median()] = 0.0
    comparison = compare_models(make_loaded(tiny_cnn), make_loaded(other, name="y"), bundle, backends=("torch",), **FAST)
    assert comparison.agreement < 1.0
    assert comparison.ratios["nonzero_params"] > 1.5
    assert comparison.ratios["params"] == 1.0
    assert comparison.ratios["speedup_onnxruntime"] is None


def test_compare_refuses_models_for_different_inputs(tiny_cnn):
    with pytest.raises(ShapeMismatchError):
        compare_models(make_loaded(tiny_cnn), make_loaded(TinyCNN(), (3, 8, 8)), None, backends=(), **FAST)


def test_cancel_stops_measurement(tiny_cnn):
    token = CancelToken()
    calls = []

    def progress(fraction: float, message: str) -> None:
        calls.append(message)
        if fraction > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        measure_model(make_loaded(tiny_cnn), make_bundle(n=40), eval_batch=4, progress=progress, cancel=token)
    assert not any("export" in m or "latency" in m for m in calls)


def test_mismatched_data_fails_before_work(tiny_cnn):
    with pytest.raises(ShapeMismatchError):
        measure_model(make_loaded(tiny_cnn), make_bundle(shape=(1, 28, 28)), **FAST)


class NotExportable(torch.nn.Module):
    """Runs in eager PyTorch, but branches on a value, which torch.export cannot capture."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x.flatten(1)[:, :10]
        return -x.flatten(1)[:, :10]


def test_failed_export_is_reported_not_hidden():
    metrics = measure_model(make_loaded(NotExportable()), None, **FAST)
    assert metrics.latency_ms("torch") > 0
    assert metrics.to_dict()["latency_ms"]["onnxruntime"] is None
    assert any("no ONNX Runtime latency" in n and "export" in n for n in metrics.notes)
