"""quantize.qat: int8 weights trained against ONNX Runtime's simulated int8, ending on ONNX Runtime's U8S8 QDQ graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.jobs import Cancelled, CancelToken
from core.techniques import ONNX, get
from core.techniques import onnx_quant_common as oq
from core.techniques.base import TechniqueError
from core.techniques.quantize_qat import FILE_NAME, QuantizeQAT
from core.techniques.quantize_static import QuantizeStatic
from tests.core.techniques.quant_helpers import (
    context, exported, graph, onnx_loaded, quadrants, run_onnx, torch_loaded, trained_quantnet, val_batch,
)

FAST = dict(epochs=3, lr=1e-5)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One QAT run and the plain static int8 of the same model, shared by the tests below."""
    epochs: list = []
    progress: list[tuple[float, str]] = []
    qat_dir, static_dir = tmp_path_factory.mktemp("qat"), tmp_path_factory.mktemp("static")
    model = torch_loaded(trained_quantnet())
    qat = QuantizeQAT(**FAST).apply(model, context(qat_dir, progress=lambda f, m: progress.append((f, m)),
                                                   on_epoch=epochs.append))
    static = QuantizeStatic().apply(model, context(static_dir))
    return qat, static, qat_dir, epochs, progress


def test_registered_as_an_onnx_step_that_also_starts_from_onnx():
    info = get("quantize.qat")
    assert (info.side, info.family, info.accepts_onnx) == (ONNX, "Quantization", True)
    assert all(p.spec.help for p in info.params)
    config = info.config()
    assert (config.epochs, config.lr, config.augment, config.per_channel) == (3, 5e-6, True, True)


def test_ends_on_the_same_u8s8_qdq_graph_as_static_int8(runs):
    qat, static, qat_dir, _, _ = runs
    path = Path(qat.model.runnable.path)
    assert path == qat_dir / FILE_NAME and qat.model.is_onnx
    ours, theirs = graph(path), graph(Path(static.model.runnable.path))
    assert oq.op_counts(ours) == oq.op_counts(theirs)  # same kernels, so the same speed
    assert qat.extra["quantized_layers"] == qat.extra["weight_layers"] == static.extra["weight_layers"]
    assert abs(path.stat().st_size - Path(static.model.runnable.path).stat().st_size) < 1024
    assert qat.summary.startswith("QAT (3 epoch(s)")


def test_training_moves_the_weights_and_lowers_the_simulated_error(runs):
    qat, static, _, epochs, _ = runs
    note = next(n for n in qat.notes if n.startswith("weight tuning"))
    assert "kept epoch" in note and "validation images" in note
    before, after = (float(v) for v in note.split("went ")[1].split(" (")[0].split(" → "))
    assert after < before
    kept = [h for h in qat.extra["history"] if h["kept"]]
    assert len(kept) == 1 and kept[0]["held_out_loss"] == min(h["held_out_loss"] for h in qat.extra["history"])
    x = val_batch()
    assert not np.allclose(run_onnx(Path(qat.model.runnable.path), x), run_onnx(Path(static.model.runnable.path), x))
    ours = run_onnx(Path(qat.model.runnable.path), x).argmax(1)
    fp32 = run_onnx(exported("cnn"), x).argmax(1)
    assert (ours == fp32).mean() >= 0.95


def test_each_epoch_is_reported_live_and_kept_in_the_history(runs):
    qat, _, _, epochs, progress = runs
    assert [e.epoch for e in epochs] == [1, 2, 3] and all(e.train_loss >= 0 for e in epochs)
    assert [h["epoch"] for h in qat.extra["history"]] == [1, 2, 3]
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and any("tuning int8 weights" in m for _, m in progress)


def test_starts_from_an_onnx_file_and_leaves_it_untouched(tmp_path):
    src = exported("cnn")
    before = src.read_bytes()
    out = QuantizeQAT(epochs=1, lr=1e-5).apply(onnx_loaded(src), context(tmp_path))
    assert src.read_bytes() == before and (tmp_path / FILE_NAME).exists() and out.model.is_onnx


def test_an_empty_training_split_is_refused_with_the_fix(tmp_path):
    import dataclasses

    data = dataclasses.replace(quadrants(), train=[])
    with pytest.raises(TechniqueError) as err:
        QuantizeQAT(**FAST).apply(torch_loaded(trained_quantnet()), context(tmp_path, data=data))
    assert "training split is empty" in str(err.value) and "quantize.static" in str(err.value)


def test_cancel_during_training_stops_the_step(tmp_path):
    token = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if "tuning int8 weights" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        QuantizeQAT(epochs=50, lr=1e-5).apply(torch_loaded(trained_quantnet()),
                                              context(tmp_path, progress=progress, cancel=token))
    assert not (tmp_path / FILE_NAME).exists()
