"""An ONNX file behind an ONNX Runtime session, callable like a module."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch


class OnnxModel:
    """Runs an ONNX classifier on CPU with ONNX Runtime.

    The session is created lazily and can be rebuilt with another thread count,
    because latency must be measured at the thread count the user asked for.
    A file with a fixed batch runs any batch in chunks of its own.
    """

    def __init__(self, path: Path, threads: Optional[int] = None) -> None:
        self.path = Path(path)
        self._threads = threads
        self._session = None

    def session(self, threads: Optional[int] = None):
        import onnxruntime as ort

        if self._session is None and threads is None:
            threads = self._threads  # the count given at construction
        if self._session is None or (threads is not None and threads != self._threads):
            opts = ort.SessionOptions()
            # Idle threads sleep instead of spinning: a spinning session steals the cores from the next model
            # timed in the same interleaved loop (fp32 at batch 1 read 116 ms instead of 14.7 ms with 8 sessions).
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            if threads is not None:
                opts.intra_op_num_threads = threads
                opts.inter_op_num_threads = 1
                self._threads = threads
            self._session = ort.InferenceSession(
                str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        return self._session

    @property
    def input_name(self) -> str:
        return self.session().get_inputs()[0].name

    @property
    def input_dims(self) -> list:
        """Declared input dims; symbolic ones (a dynamic batch) come back as str."""
        return list(self.session().get_inputs()[0].shape)

    @property
    def fixed_batch(self) -> Optional[int]:
        """The batch size the file fixes, or None when its batch is dynamic."""
        dims = self.input_dims
        return int(dims[0]) if dims and isinstance(dims[0], int) and dims[0] > 0 else None

    def run_numpy(self, batch: np.ndarray) -> np.ndarray:
        """The first output for ``batch``; a file with a fixed batch runs in chunks of it (the last padded)."""
        x = batch.astype(np.float32, copy=False)
        session, name, fixed = self.session(), self.input_name, self.fixed_batch
        if fixed is None or len(x) == fixed:
            return session.run(None, {name: x})[0]
        from core.models.onnx_batch import run_in_chunks

        return run_in_chunks(lambda chunk: session.run(None, {name: chunk})[:1], x, fixed)[0]

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.run_numpy(batch.detach().cpu().numpy()))
