from __future__ import annotations

import pytest
import torch
from torch import nn

from core.jobs import CancelToken, Cancelled
from core.metrics import (
    LatencyStats,
    measure_latency_interleaved,
    measure_latency_onnx,
    measure_latency_pair,
    measure_latency_torch,
)
from core.metrics.latency import chunk_note, stats_from_times
from core.models.onnx_model import OnnxModel

from .conftest import linear_onnx


class Recorder(nn.Module):
    """Logs its name, grad mode, train mode and torch's thread count on every call."""

    def __init__(self, name: str, log: list) -> None:
        super().__init__()
        self.name = name
        self.log = log
        self.lin = nn.Linear(48, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.log.append((self.name, torch.is_inference_mode_enabled(), self.training, torch.get_num_threads()))
        return self.lin(x.flatten(1))


def _sane(stats: LatencyStats, *, backend: str, batch: int, threads: int, repeats: int) -> None:
    assert stats.backend == backend
    assert (stats.batch, stats.threads, stats.repeats) == (batch, threads, repeats)
    assert 0 < stats.min_ms <= stats.median_ms <= stats.p90_ms


def test_stats_from_known_times():
    stats = stats_from_times([5.0, 1.0, 3.0, 2.0, 4.0], batch=2, threads=1, backend="torch")
    assert stats.median_ms == 3.0 and stats.min_ms == 1.0
    assert stats.p90_ms == pytest.approx(4.6)
    assert stats.to_dict()["repeats"] == 5


def test_torch_latency_sets_threads_modes_and_restores_them():
    log: list = []
    module = Recorder("a", log).train()
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    stats = measure_latency_torch(module, (3, 4, 4), batch=4, threads=wanted, warmup=2, repeats=7)
    _sane(stats, backend="torch", batch=4, threads=wanted, repeats=7)
    assert len(log) == 9
    assert all(entry == ("a", True, False, wanted) for entry in log)  # inference mode, eval mode, asked threads
    assert torch.get_num_threads() == before
    assert module.training  # the caller's mode comes back


def test_threads_restored_after_cancel():
    before = torch.get_num_threads()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        measure_latency_torch(nn.Linear(2, 2), (2,), threads=1 if before != 1 else 2, warmup=1, repeats=3, cancel=token)
    assert torch.get_num_threads() == before


def test_pair_is_interleaved_with_alternating_order():
    log: list = []
    a, b = Recorder("a", log), Recorder("b", log)
    sa, sb = measure_latency_pair(a, b, (3, 4, 4), warmup=1, repeats=4, threads=1)
    _sane(sa, backend="torch", batch=1, threads=1, repeats=4)
    _sane(sb, backend="torch", batch=1, threads=1, repeats=4)
    assert "".join(entry[0] for entry in log) == "ab" "ba" "ab" "ba" "ab"


def test_onnx_latency_from_path_and_model(tmp_path):
    path = linear_onnx(tmp_path / "lin.onnx")
    stats = measure_latency_onnx(path, (3, 4, 4), batch=3, threads=1, warmup=2, repeats=5)
    _sane(stats, backend="onnxruntime", batch=3, threads=1, repeats=5)
    model = OnnxModel(path)
    stats = measure_latency_onnx(model, (3, 4, 4), batch=1, threads=2, warmup=1, repeats=4)
    _sane(stats, backend="onnxruntime", batch=1, threads=2, repeats=4)
    assert model.session(2).get_session_options().intra_op_num_threads == 2


def test_onnx_fixed_batch_is_timed_in_chunks_of_it(tmp_path):
    path = linear_onnx(tmp_path / "fixed.onnx", batch=2)
    assert measure_latency_onnx(path, (3, 4, 4), batch=2, warmup=0, repeats=2).repeats == 2
    assert chunk_note(path, 2) is None
    stats = measure_latency_onnx(path, (3, 4, 4), batch=5, warmup=0, repeats=2)  # 3 runs of 2, the last padded
    _sane(stats, backend="onnxruntime", batch=5, threads=2, repeats=2)
    assert chunk_note(path, 5) == ("ONNX Runtime latency at batch 5: the ONNX file has a fixed batch of 2, "
                                   "so it was timed as 3 runs of 2 (the last one padded)")


def test_mixed_backends_and_progress(tmp_path):
    path = linear_onnx(tmp_path / "lin.onnx", num_classes=4)
    seen: list[float] = []
    st, so = measure_latency_interleaved(
        [nn.Sequential(nn.Flatten(), nn.Linear(48, 4)), path],
        (3, 4, 4),
        warmup=0,
        repeats=10,
        progress=lambda f, m: seen.append(f),
    )
    assert (st.backend, so.backend) == ("torch", "onnxruntime")
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_rejects_what_it_cannot_time():
    with pytest.raises(TypeError):
        measure_latency_onnx(nn.Linear(2, 2), (2,))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        measure_latency_torch(nn.Linear(2, 2), (2,), repeats=0)
