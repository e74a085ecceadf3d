"""timm architectures: state_dicts loaded with ``--arch timm:NAME`` and ``timm:NAME --weights``.

timm is optional, so the tests that build timm models skip without it; the
error for a missing timm runs always (the import is made to fail).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.errors import ModelLoadError
from core.models import load_model
from core.models import timm_zoo
from core.models.spec import ModelSpec, parse_spec

SMALL = "mobilenetv3_small_050"  # ~0.6 M parameters: quick to build and run at 32-64 px
NEEDS_TIMM = "--arch timm:NAME needs the timm package: pip install timm"


@pytest.fixture
def no_timm(monkeypatch):
    """Make ``import timm`` fail, as on a machine without it."""
    timm_zoo.model_names.cache_clear()
    monkeypatch.setitem(sys.modules, "timm", None)
    monkeypatch.setitem(sys.modules, "timm.models", None)
    yield
    timm_zoo.model_names.cache_clear()


def test_timm_spec_is_parsed_without_importing_timm():
    assert parse_spec("TIMM:efficientnet_lite2") == ModelSpec("timm", "efficientnet_lite2")
    with pytest.raises(ModelLoadError, match="needs an architecture name"):
        parse_spec("timm:")


def test_arch_timm_without_timm_is_a_one_line_error(no_timm, tmp_path, capsys):
    weights = tmp_path / "ft.pt"
    torch.save({"conv_stem.weight": torch.zeros(8, 3, 3, 3)}, weights)
    with pytest.raises(ModelLoadError, match="needs the timm package"):
        load_model(str(weights), arch="timm:efficientnet_lite2")
    with pytest.raises(ModelLoadError, match="needs the timm package"):
        load_model("timm:efficientnet_lite2")
    code = main(["evaluate", str(weights), "--arch", "timm:efficientnet_lite2", "--data", "demo", "--quiet"])
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert NEEDS_TIMM in lines[0] and "Traceback" not in err


# --------------------------------------------------------------------------- with timm


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    """A 10-class ``mobilenetv3_small_050`` with non-default BN stats, saved as a state_dict."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    net = timm.create_model(SMALL, pretrained=False, num_classes=10)
    with torch.no_grad():  # a few train-mode passes so running stats differ from a fresh build
        net.train()
        for _ in range(2):
            net(torch.randn(4, 3, 64, 64))
    net.eval()
    path = tmp_path_factory.mktemp("timm") / "finetuned.pt"
    torch.save(net.state_dict(), path)
    return net, path


def test_state_dict_loads_with_arch_timm(finetuned):
    net, path = finetuned
    model = load_model(str(path), arch=f"timm:{SMALL}")
    assert model.arch == f"timm:{SMALL}"  # stored runs replay with this --arch
    assert model.num_classes == 10  # read off the classifier
    assert tuple(model.input_shape) == (3, 224, 224)  # timm's pretrained_cfg input_size
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.predict(x), net(x), atol=1e-5)


def test_replay_from_recorded_arch_and_input_shape(finetuned):
    net, path = finetuned
    first = load_model(str(path), arch=f"timm:{SMALL}", input_shape=(3, 32, 32))
    again = load_model(str(path), arch=first.arch, num_classes=first.num_classes, input_shape=first.input_shape)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(again.predict(x), net(x), atol=1e-5)


def test_timm_spec_with_weights(finetuned):
    net, path = finetuned
    model = load_model(f"timm:{SMALL}", weights=path)
    assert (model.source_format, model.arch, model.num_classes) == ("timm", f"timm:{SMALL}", 10)
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        assert torch.allclose(model.predict(x), net(x), atol=1e-5)
    random = load_model(f"timm:{SMALL}", input_shape=(3, 32, 32))
    assert random.num_classes == 1000 and any("randomly initialised" in n for n in random.notes)


def test_wrong_num_classes_names_the_head_and_weights_get_a_new_head(finetuned):
    net, path = finetuned
    with pytest.raises(ModelLoadError, match="--num-classes 10"):
        load_model(str(path), arch=f"timm:{SMALL}", num_classes=7)
    model = load_model(f"timm:{SMALL}", weights=path, num_classes=7)  # --weights: backbone kept, head replaced
    assert model.num_classes == 7 and any("head replaced: 10 -> 7 classes" in n for n in model.notes)
    state = net.state_dict()
    kept = [k for k, v in model.module.state_dict().items() if v.shape == state[k].shape and torch.equal(v, state[k])]
    assert len(kept) >= len(state) - 4  # everything but the classifier's weight and bias


def test_unknown_timm_name_suggests_close_matches(finetuned):
    _, path = finetuned
    with pytest.raises(ModelLoadError, match="timm has no model named `efficentnet_lite0`") as info:
        load_model(str(path), arch="timm:efficentnet_lite0")
    assert "timm:efficientnet_lite0" in str(info.value)


def test_weights_for_another_timm_arch_are_refused(finetuned):
    _, path = finetuned
    with pytest.raises(ModelLoadError, match="timm:efficientnet_lite0"):
        load_model(str(path), arch="timm:efficientnet_lite0")


def test_input_shape_comes_from_timm_config():
    pytest.importorskip("timm")
    assert timm_zoo.input_shape_for("efficientnet_lite2") == (3, 260, 260)


@pytest.mark.slow  # ~18 s: accuracy on the demo data plus an ONNX export
def test_cli_evaluate_timm_state_dict_on_demo_data(finetuned, capsys):
    _, path = finetuned
    code = main(["evaluate", str(path), "--arch", f"timm:{SMALL}", "--data", "demo", "--repeats", "2", "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert 0.0 <= report["accuracy"] <= 1.0
    assert report["params"] == sum(p.numel() for p in finetuned[0].parameters())
