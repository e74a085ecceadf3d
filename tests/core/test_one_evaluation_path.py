"""Every figure of a file comes from one evaluation path (issue 17, item 3).

A stored run's accuracy, ``evaluate`` of its ``model.onnx`` and the export
parity check's ``file_accuracy`` are one number, and the file size the Model
page and the run card show is one computation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from core.app.execute import RunRequest, execute_run
from core.app.sources import DataSource, ModelSource
from core.data.bundle import DatasetBundle, Preprocessing
from core.export.parity import check_parity
from core.export.prepare import fix_batch, source_from_run
from core.metrics.accuracy import EVAL_BATCH, eval_loader, evaluate_accuracy, evaluate_split, load_for_evaluation
from core.metrics.size import onnx_file_size, serialized_size
from core.models.loaded import LoadedModel
from core.models.onnx_export import export_onnx
from core.pipeline.runner import RunOptions
from core.store.workspace import Workspace

INT8 = '[[step]]\ntechnique = "quantize.static"\ncalibration_samples = 64\n'


def test_a_stored_runs_accuracy_evaluate_and_parity_are_one_number(tmp_path):
    assert RunOptions().eval_batch == EVAL_BATCH  # the runner's snapshots score in the evaluation batches
    with Workspace(tmp_path / "ws") as ws:
        run = execute_run(ws, RunRequest(INT8, ModelSource("demo"), DataSource("demo"),
                                         options=RunOptions(threads=1, warmup=1, repeats=3), name="int8"))
        run_id = run.row.id
        stored = ws.get_run(run_id).final
        source = source_from_run(ws, run_id)
    onnx_file = Path(source.onnx_path)
    evaluated = evaluate_split(load_for_evaluation(onnx_file), source.data)
    # the file a target with a fixed batch gets: parity runs it as written and scores it through the same path
    fixed = fix_batch(onnx_file, tmp_path / "model-b1.onnx", batch=1)
    parity = check_parity(fixed, source.model, source.data, change="none", precision="int8")
    assert evaluated.n == stored["n_eval"] == parity.samples == len(source.data.val)
    assert stored["accuracy"] == evaluated.top1 == parity.file_accuracy == parity.reference_accuracy
    assert parity.passed


class _BatchCentred(nn.Module):
    """Logits that depend on which images share the batch (the batch mean is subtracted)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return self.fc(x - x.mean(0, keepdim=True))


def test_parity_scores_the_file_in_the_batches_evaluate_uses(tmp_path):
    """A model whose answers move with the batch: parity's file_accuracy still equals evaluate's (it once ran batches of 64)."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(300, 3, 2, 2, generator=gen) + torch.linspace(0, 3, 300)[:, None, None, None]
    y = torch.randint(0, 4, (300,), generator=gen)
    ds = TensorDataset(x, y)
    data = DatasetBundle(spec="t", name="t", class_names=list("abcd"), input_shape=(3, 2, 2), train=ds, val=ds, calib=ds,
                         preprocessing=Preprocessing(name="as-is"))
    torch.manual_seed(0)
    module = _BatchCentred().eval()
    path = export_onnx(module, (3, 2, 2), tmp_path / "m.onnx")
    reference = LoadedModel(spec="t", source_format="torchvision", runnable=module, name="t", input_shape=(3, 2, 2), num_classes=4)
    by_batch = {b: evaluate_accuracy(load_for_evaluation(path), data.loader("val", b)).top1 for b in (64, EVAL_BATCH)}
    assert by_batch[64] != by_batch[EVAL_BATCH]  # the batch matters for this model, so the test can tell the paths apart
    parity = check_parity(path, reference, data)
    assert parity.file_accuracy == evaluate_split(load_for_evaluation(path), data).top1 == by_batch[EVAL_BATCH]
    assert parity.samples == 300 and parity.agreement == 1.0
    subset = check_parity(path, reference, data, samples=50)
    assert subset.samples == 50 and subset.split_images == 300 and "50 validation images (of 300)" in subset.summary()
    assert len(eval_loader(data, "val", np.arange(50))) == 1


def test_the_file_size_is_the_onnx_files_for_both_backends(tmp_path):
    """The Model page (a PyTorch model) and the run card (its ONNX file) show one size: the deployable ONNX file's."""
    from core.models import load_model

    model = load_model("demo")
    onnx_path = export_onnx(model.module, model.input_shape, tmp_path / "model.onnx")
    as_file = onnx_file_size(onnx_path)
    assert as_file.bytes == onnx_path.stat().st_size
    assert serialized_size(model) == as_file == serialized_size(load_model(str(onnx_path)))
    assert serialized_size(model).kind == "onnx"
