"""The peer int8 methods of the real-network benchmark: ONNX Runtime's and NNCF's own APIs, called as their docs show.

Each takes the same fp32 ONNX file and the same calibration tensors as
EdgeSlim's ``quantize.static`` and writes one int8 ONNX file. Calibration for
ONNX Runtime is fed in batches and merged per batch (``CalibStridedMinMax``):
min/max merge exactly, so the ranges are those of one pass over all images,
without holding every activation of every image in memory at once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

CALIB_BATCH = 16


class TensorReader:
    """ONNX Runtime's CalibrationDataReader over a stacked tensor, ``batch`` images a call."""

    def __init__(self, input_name: str, x: torch.Tensor, batch: int = CALIB_BATCH) -> None:
        arr = x.numpy()
        self.batches = [{input_name: arr[i: i + batch]} for i in range(0, len(arr), batch)]
        self._i = 0

        self._end = len(self.batches)

    def get_next(self):
        if self._i >= self._end:
            return None
        self._i += 1
        return self.batches[self._i - 1]

    def set_range(self, start_index: int, end_index: int) -> None:
        """ONNX Runtime's per-batch collection (``CalibStridedMinMax``) asks for batches [start, end)."""
        self._i, self._end = start_index, min(end_index, len(self.batches))

    def rewind(self) -> None:
        self._i, self._end = 0, len(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _input_name(path: Path) -> str:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in proto.graph.initializer}
    return next(i.name for i in proto.graph.input if i.name not in inits)


def ort_defaults(src: Path, out: Path, calib: torch.Tensor) -> list[str]:
    """``quantize_static`` with every default: QDQ, S8S8 (int8 activations and weights), per-tensor, MinMax."""
    from onnxruntime.quantization import quantize_static

    quantize_static(str(src), str(out), TensorReader(_input_name(src), calib),
                    extra_options={"CalibStridedMinMax": 1})
    return ["QDQ S8S8 per-tensor MinMax (the library defaults), no pre-processing"]


def ort_u8s8(src: Path, out: Path, calib: torch.Tensor) -> list[str]:
    """The documented fast CPU recipe: ``quant_pre_process``, then QDQ U8S8, per-channel weights, MinMax."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre))
        quantize_static(
            str(pre), str(out), TensorReader(_input_name(pre), calib),
            quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            per_channel=True, extra_options={"CalibStridedMinMax": 1},
        )
    return ["quant_pre_process, QDQ U8S8 per-channel MinMax"]


def nncf_quantize(src: Path, out: Path, calib: torch.Tensor) -> list[str]:
    """``nncf.quantize`` on the ONNX model (ONNX backend) with its defaults, every calibration image used."""
    import nncf
    import onnx

    proto = onnx.load(str(src))
    name = _input_name(src)
    items = [calib[i: i + 1].numpy() for i in range(len(calib))]
    dataset = nncf.Dataset(items, lambda x: {name: x})
    quantized = nncf.quantize(proto, dataset, subset_size=len(items))
    onnx.save(quantized, str(out))
    return [f"nncf {nncf.__version__}: preset performance, fast bias correction (defaults), subset_size {len(items)}"]


def quiet_session(path: Path, threads: int = 2):
    """An ONNX Runtime session whose idle threads sleep instead of spinning.

    Spinning threads of one session steal the CPUs from the next one: timed
    round-robin, 8 sessions of EfficientNet-Lite2 measured the fp32 file at
    116 ms a batch-1 run with spinning and 14.7 ms without (14.5 ms alone).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def time_interleaved(paths: list[Path], batch: int, repeats: int, warmup: int = 5, threads: int = 2) -> list[float]:
    """Median ms per run of each file, timed round-robin (order reversed every other round)."""
    import gc
    import statistics
    import time

    sessions = [quiet_session(p, threads) for p in paths]
    feed = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    names = [s.get_inputs()[0].name for s in sessions]
    times: list[list[float]] = [[] for _ in sessions]
    gc.collect()
    gc.disable()
    try:
        for i in range(warmup + repeats):
            order = range(len(sessions)) if i % 2 == 0 else range(len(sessions) - 1, -1, -1)
            for j in order:
                start = time.perf_counter()
                sessions[j].run(None, {names[j]: feed})
                if i >= warmup:
                    times[j].append((time.perf_counter() - start) * 1000.0)
    finally:
        gc.enable()
    return [statistics.median(t) for t in times]


def ort_predict(path: Path, x: torch.Tensor, threads: int = 2, batch: int = 32) -> np.ndarray:
    """Top-1 class per image with ONNX Runtime; a file with a fixed batch runs at its own batch."""
    session = quiet_session(path, threads)
    inp = session.get_inputs()[0]
    fixed = inp.shape[0] if isinstance(inp.shape[0], int) and inp.shape[0] > 0 else None
    step = fixed or batch
    arr = x.numpy()
    preds = []
    for i in range(0, len(arr), step):
        chunk = arr[i: i + step]
        n = len(chunk)
        if fixed and n < fixed:  # pad the last chunk to the file's batch
            chunk = np.concatenate([chunk, np.zeros((fixed - n, *chunk.shape[1:]), chunk.dtype)])
        preds.append(session.run(None, {inp.name: chunk})[0][:n].argmax(1))
    return np.concatenate(preds)


def fixed_batch(path: Path) -> int | None:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in proto.graph.initializer}
    value = next(i for i in proto.graph.input if i.name not in inits)
    dim = value.type.tensor_type.shape.dim[0]
    return dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None
