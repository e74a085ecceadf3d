"""Measurements of a model: accuracy, agreement, params, MACs, size, latency.

Import from here; each submodule is small and named for what it measures.
"""

from __future__ import annotations

from core.metrics.accuracy import EVAL_BATCH, AccuracyResult, agreement, evaluate_accuracy, evaluate_split, load_for_evaluation
from core.metrics.compat import check_compatible
from core.metrics.latency import (
    LatencyStats,
    measure_latency_interleaved,
    measure_latency_onnx,
    measure_latency_pair,
    measure_latency_torch,
)
from core.metrics.measure import Comparison, ModelMetrics, compare_models, measure_model
from core.metrics.size import ParamCounts, SizeInfo, onnx_file_size, onnx_param_counts, param_counts, serialized_size

__all__ = [
    "EVAL_BATCH",
    "AccuracyResult",
    "Comparison",
    "LatencyStats",
    "ModelMetrics",
    "ParamCounts",
    "SizeInfo",
    "agreement",
    "check_compatible",
    "compare_models",
    "evaluate_accuracy",
    "evaluate_split",
    "load_for_evaluation",
    "measure_latency_interleaved",
    "measure_latency_onnx",
    "measure_latency_pair",
    "measure_latency_torch",
    "measure_model",
    "onnx_file_size",
    "onnx_param_counts",
    "param_counts",
    "serialized_size",
]
