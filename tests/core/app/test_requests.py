"""Requests are plain data: a RunRequest survives the trip to a worker and back out of the store; timing is one object."""

from __future__ import annotations

import pytest

from core.controls import for_app
from core.app.execute import RunRequest
from core.app.sensitivity import SensitivityRequest
from core.app.sources import DataSource, ModelSource
from core.errors import EdgeSlimError
from core.metrics.latency import TimingOptions
from core.pipeline.runner import RunOptions
from core.store.workspace import Workspace

SPARSE = '[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.3\n'


def test_a_run_request_round_trips_through_plain_data():
    request = RunRequest(SPARSE, ModelSource("model.pt", arch="torchvision:resnet18", num_classes=10, input_shape=(3, 32, 32)),
                         DataSource("cifar10:/data", preset="imagenet", image_size=32), RunOptions(threads=1, device="cpu"),
                         "name", 7)
    assert RunRequest.from_dict(request.to_dict()) == request


def test_the_stored_request_takes_trust_from_the_caller_only(tmp_path):
    model, data = ModelSource("demo", trust=True), DataSource("demo", labels="/abs/labels.txt")
    with Workspace(tmp_path) as ws:
        from core.app.sources import stored_options

        run_id = ws.create_run(name="r", recipe_name="r", recipe_toml=SPARSE, techniques=["prune.unstructured"],
                               model_spec="demo", data_spec="demo", load_options=stored_options(model, data),
                               options={"batch": 2, "threads": 1, "warmup": 1, "repeats": 3}, trial_key="k")
        row = ws.get_run(run_id)
    again = RunRequest.from_row(row)
    assert again.model == ModelSource("demo") and again.data == data  # trust not stored; labels kept
    assert RunRequest.from_row(row, trust=True).model.trust
    assert again.options.timing == TimingOptions(batch=2, threads=1, warmup=1, repeats=3)  # an old row's keys
    assert again.options.device == "auto"


def test_a_bad_sensitivity_request_names_the_control_per_front_end():
    request = SensitivityRequest(ModelSource("demo"), DataSource("demo"), "prune.structured", method="error")
    with pytest.raises(EdgeSlimError) as info:
        request.check()
    assert str(info.value).startswith("--method and --calibration-samples apply to quantize.static")
    assert for_app(info.value.problem).startswith("the method on the Sensitivity page and")
