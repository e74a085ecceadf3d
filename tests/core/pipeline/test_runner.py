"""The runner: every stage measured against the baseline, results kept on disk, cancel and failure handled."""

from __future__ import annotations

import copy
import dataclasses
import json
import time

import numpy as np
import pytest
import torch

from core.errors import ShapeMismatchError
from core.jobs import CancelToken
from core.metrics import ModelMetrics
from core.models import load_model
from core.models.onnx_model import OnnxModel
from core.pipeline.recipe import RecipeError, parse_recipe
from core.pipeline.runner import RunOptions, run_recipe
from core.techniques import TechniqueError
from tests.core.small_models import learnable_bundle, loaded

FAST = RunOptions(threads=1, warmup=2, repeats=5, eval_batch=64)
SPARSE_FT = """
name = "sparse-ft"
[[step]]
technique = "prune.unstructured"
sparsity = 0.5
[[step]]
technique = "finetune"
epochs = 1
batch_size = 16
augment = false
"""
METRIC_KEYS = set(ModelMetrics("x", (3, 1, 1), None, None, 0, 0, 0, None, 0, 0, {}, 1, 1).to_dict())


def test_run_measures_baseline_and_every_step_and_keeps_the_input_model(trained_net, quadrants, tmp_path):
    model = loaded(copy.deepcopy(trained_net))
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    streamed, baselines = [], []
    result = run_recipe(
        parse_recipe(SPARSE_FT), model, quadrants, tmp_path / "run", FAST,
        on_step=streamed.append, on_baseline=baselines.append,
    )
    assert result.status == "done"
    assert [r.technique for r in streamed] == ["prune.unstructured", "finetune"] and len(baselines) == 1
    assert all(torch.equal(before[k], v) for k, v in model.module.state_dict().items())  # the baseline is untouched

    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["status"] == "done" and saved["recipe"]["name"] == "sparse-ft"
    base, sparse, final = saved["baseline"], saved["steps"][0]["metrics"], saved["final"]
    assert METRIC_KEYS <= set(base) and METRIC_KEYS <= set(final)
    assert base["accuracy"] >= 0.9 and base["agreement"] == 1.0
    assert sparse["nonzero_params"] < 0.6 * base["nonzero_params"]
    assert sparse["ratios"]["zip"] > 1.2  # zeros compress
    assert sparse["params"] == base["params"] and sparse["macs"] == base["macs"]  # shapes unchanged
    for m in (base, sparse, final):
        assert m["latency_ms"]["onnxruntime"] > 0 and m["latency"]["onnxruntime"]["repeats"] == 5
    assert final["ratios"]["speedup_onnxruntime"] > 0
    assert 0.0 <= final["agreement"] <= 1.0
    assert torch.__version__.startswith(saved["versions"]["torch"])
    assert saved["steps"][1]["extra"]["history"]


def test_run_writes_artifacts_that_load_and_agree(trained_net, quadrants, tmp_path):
    result = run_recipe(parse_recipe(SPARSE_FT), loaded(copy.deepcopy(trained_net)), quadrants, tmp_path, FAST)
    onnx_path, pt2_path = result.artifacts["onnx"], result.artifacts["pt2"]
    assert result.artifact == onnx_path
    x = torch.stack([quadrants.val[i][0] for i in range(6)])
    from_onnx = OnnxModel(onnx_path)(x)
    program = load_model(pt2_path)
    assert program.source_format == "pt2"
    np.testing.assert_allclose(program.predict(x).numpy(), from_onnx.numpy(), atol=1e-4)
    assert (tmp_path / "recipe.toml").read_text().count("[[step]]") == 2


def test_cancel_stops_the_run_and_keeps_what_was_done(trained_net, quadrants, tmp_path):
    recipe = parse_recipe(SPARSE_FT.replace("epochs = 1", "epochs = 50"))
    token = CancelToken()
    cancelled_at = []

    def progress(fraction, message):
        if "epoch 2/" in message and not cancelled_at:
            cancelled_at.append(time.perf_counter())
            token.cancel()

    result = run_recipe(recipe, loaded(copy.deepcopy(trained_net)), quadrants, tmp_path, FAST, progress=progress, cancel=token)
    stopped = time.perf_counter() - cancelled_at[0]
    assert result.status == "cancelled" and stopped < 3.0
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["status"] == "cancelled"
    assert [s["technique"] for s in saved["steps"]] == ["prune.unstructured"]  # the finished step is kept
    assert saved["baseline"]["accuracy"] is not None


def test_a_failing_step_is_recorded_then_raised(trained_net, quadrants, tmp_path):
    recipe = parse_recipe('[[step]]\ntechnique = "prune.unstructured"\nignore_layers = ["nope"]\n')
    with pytest.raises(TechniqueError, match="nope"):
        run_recipe(recipe, loaded(copy.deepcopy(trained_net)), quadrants, tmp_path, FAST)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["status"] == "failed" and "nope" in saved["error"]
    assert saved["baseline"]["accuracy"] is not None


def test_problems_are_found_before_any_work(trained_net, quadrants, tmp_path):
    wrong_size = learnable_bundle(shape=(3, 20, 20))
    # a file with a fixed input size (an eager network that pools adaptively is tried on the data instead)
    wrong_size_net = dataclasses.replace(loaded(copy.deepcopy(trained_net), shape=(3, 16, 16)), source_format="pt2")
    with pytest.raises(ShapeMismatchError):
        run_recipe(parse_recipe(SPARSE_FT), wrong_size_net, wrong_size, tmp_path / "a", FAST)
    onnx_model = load_model(str(_export(trained_net, tmp_path)))
    with pytest.raises(RecipeError, match="ONNX file"):
        run_recipe(parse_recipe(SPARSE_FT), onnx_model, quadrants, tmp_path / "b", FAST)
    assert not (tmp_path / "a" / "result.json").exists()


def _export(net, tmp_path):
    from core.models.onnx_export import export_onnx

    return export_onnx(copy.deepcopy(net), (3, 16, 16), tmp_path / "net.onnx")
