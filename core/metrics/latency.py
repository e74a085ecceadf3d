"""CPU latency with PyTorch and with ONNX Runtime, at a fixed thread count.

Each forward pass is timed on its own with ``time.perf_counter`` after a
warm-up, and the median is the headline (robust to a stray slow run); p90
shows the tail. When two models are compared they are timed interleaved, one
run of each in turn with the order flipped every round, so background load and
CPU frequency drift hit both equally instead of whichever ran second.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from core.jobs import CancelToken, ProgressFn, check, null_progress
from core.models.onnx_model import OnnxModel

# What can be timed: a module runs on PyTorch, an OnnxModel or a path on ONNX Runtime.
Target = Union[nn.Module, OnnxModel, Path, str]


@dataclass(frozen=True)
class TimingOptions:
    """How latency is timed: batch size, CPU threads, untimed warm-up runs and timed runs (one object through every layer)."""

    batch: int = 1
    threads: int = 2
    warmup: int = 10
    repeats: int = 50

    def as_kwargs(self) -> dict:
        """The keywords of the timing primitives below (``measure_latency_*``)."""
        return asdict(self)


@dataclass(frozen=True)
class LatencyStats:
    median_ms: float
    p90_ms: float
    min_ms: float
    batch: int
    threads: int
    repeats: int
    backend: str  # "torch" | "onnxruntime"

    def to_dict(self) -> dict:
        return asdict(self)


def stats_from_times(times_ms: Sequence[float], *, batch: int, threads: int, backend: str) -> LatencyStats:
    """Summarise per-run times (milliseconds)."""
    if not times_ms:
        raise ValueError("no timed runs")
    return LatencyStats(
        median_ms=float(statistics.median(times_ms)),
        p90_ms=float(np.percentile(np.asarray(times_ms, dtype=np.float64), 90)),
        min_ms=float(min(times_ms)),
        batch=batch,
        threads=threads,
        repeats=len(times_ms),
        backend=backend,
    )


class _Bench:
    """One model prepared for timing: ``run()`` is one forward pass."""

    backend: str

    @contextlib.contextmanager
    def prepared(self) -> Iterator[None]:
        """Put the model in its timing state for the whole measurement."""
        yield

    def run(self) -> object:
        raise NotImplementedError


class _TorchBench(_Bench):
    backend = "torch"

    def __init__(self, module: nn.Module, input_shape: Sequence[int], batch: int) -> None:
        self.module = module
        self.x = torch.randn(batch, *input_shape)

    @contextlib.contextmanager
    def prepared(self) -> Iterator[None]:
        was_training = self.module.training
        self.module.eval()
        try:
            yield
        finally:
            self.module.train(was_training)

    def run(self) -> object:
        return self.module(self.x)


class _OrtBench(_Bench):
    backend = "onnxruntime"

    def __init__(self, onnx: OnnxModel | Path | str, input_shape: Sequence[int], batch: int, threads: int) -> None:
        self.onnx = onnx if isinstance(onnx, OnnxModel) else OnnxModel(Path(onnx))
        self.session = self.onnx.session(threads)
        self.x = np.random.default_rng(0).standard_normal((batch, *input_shape), dtype=np.float32)
        self.feed = {self.onnx.input_name: self.x}
        # a file with a fixed batch other than ``batch`` is timed the way it runs: in chunks of its batch
        self.chunked = self.onnx.fixed_batch not in (None, batch)

    def run(self) -> object:
        return self.onnx.run_numpy(self.x) if self.chunked else self.session.run(None, self.feed)


def chunk_note(target: Target, batch: int) -> Optional[str]:
    """What the user should know when ``target`` (an ONNX file) cannot run ``batch`` in one go; None when it can."""
    if isinstance(target, nn.Module):
        return None
    onnx = target if isinstance(target, OnnxModel) else OnnxModel(Path(target))
    fixed = onnx.fixed_batch
    if fixed in (None, batch):
        return None
    runs = -(-batch // fixed)
    padded = " (the last one padded)" if batch % fixed else ""
    return (f"ONNX Runtime latency at batch {batch}: the ONNX file has a fixed batch of {fixed}, "
            f"so it was timed as {runs} run{'s' if runs > 1 else ''} of {fixed}{padded}")


def _bench_for(target: Target, input_shape: Sequence[int], batch: int, threads: int) -> _Bench:
    if isinstance(target, nn.Module):
        return _TorchBench(target, input_shape, batch)
    if isinstance(target, (OnnxModel, Path, str)):
        return _OrtBench(target, input_shape, batch, threads)
    raise TypeError(f"cannot time a {type(target).__name__}: expected an nn.Module, an OnnxModel or an .onnx path")


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run PyTorch with ``threads`` intra-op threads, restoring the caller's count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """A garbage collection in the middle of a timed run would be charged to the model."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def measure_latency_interleaved(
    targets: Sequence[Target],
    input_shape: Sequence[int],
    *,
    batch: int = 1,
    threads: int = 2,
    warmup: int = 10,
    repeats: int = 50,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> list[LatencyStats]:
    """Time several models round-robin: each round runs every model once.

    The order is reversed every other round so no model always runs right
    after another (whose threads may still be spinning down). Targets may mix
    backends, though comparing like with like is what the interleaving is for.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    if batch < 1 or threads < 1:
        raise ValueError("batch and threads must be at least 1")
    progress = progress or null_progress
    benches = [_bench_for(t, input_shape, batch, threads) for t in targets]
    times: list[list[float]] = [[] for _ in benches]
    total = warmup + repeats
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch_threads(threads))
        stack.enter_context(torch.inference_mode())
        for bench in benches:
            stack.enter_context(bench.prepared())
        stack.enter_context(_gc_paused())
        for i in range(total):
            order = range(len(benches)) if i % 2 == 0 else range(len(benches) - 1, -1, -1)
            for j in order:
                check(cancel)
                start = time.perf_counter()
                benches[j].run()
                elapsed = (time.perf_counter() - start) * 1000.0
                if i >= warmup:
                    times[j].append(elapsed)
            if i % 5 == 4 or i == total - 1:
                progress((i + 1) / total, "warming up" if i < warmup else f"timing: run {i + 1 - warmup} of {repeats}")
    return [stats_from_times(t, batch=batch, threads=threads, backend=b.backend) for t, b in zip(times, benches)]


def measure_latency_torch(
    module: nn.Module,
    input_shape: Sequence[int],
    batch: int = 1,
    threads: int = 2,
    warmup: int = 10,
    repeats: int = 50,
    cancel: Optional[CancelToken] = None,
    progress: Optional[ProgressFn] = None,
) -> LatencyStats:
    """Latency of one PyTorch forward pass (eval mode, inference mode, ``threads`` threads)."""
    return measure_latency_interleaved(
        [module], input_shape, batch=batch, threads=threads, warmup=warmup, repeats=repeats, progress=progress, cancel=cancel
    )[0]


def measure_latency_onnx(
    onnx: OnnxModel | Path | str,
    input_shape: Sequence[int],
    batch: int = 1,
    threads: int = 2,
    warmup: int = 10,
    repeats: int = 50,
    cancel: Optional[CancelToken] = None,
    progress: Optional[ProgressFn] = None,
) -> LatencyStats:
    """Latency of one ONNX Runtime CPU run with ``intra_op_num_threads=threads``."""
    if not isinstance(onnx, (OnnxModel, Path, str)):
        raise TypeError(f"expected an OnnxModel or an .onnx path, got {type(onnx).__name__}")
    return measure_latency_interleaved(
        [onnx], input_shape, batch=batch, threads=threads, warmup=warmup, repeats=repeats, progress=progress, cancel=cancel
    )[0]


def measure_latency_pair(
    a: Target,
    b: Target,
    input_shape: Sequence[int],
    batch: int = 1,
    threads: int = 2,
    warmup: int = 10,
    repeats: int = 50,
    cancel: Optional[CancelToken] = None,
    progress: Optional[ProgressFn] = None,
) -> tuple[LatencyStats, LatencyStats]:
    """Latency of two models timed interleaved, for a fair side-by-side comparison."""
    sa, sb = measure_latency_interleaved(
        [a, b], input_shape, batch=batch, threads=threads, warmup=warmup, repeats=repeats, progress=progress, cancel=cancel
    )
    return sa, sb
