"""Every supported format loads into a model that computes what its source computed."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch
import torchvision

from core.errors import ModelLoadError, ShapeMismatchError
from core.models import LoadedModel, load_model
from core.models.demo_net import DemoNetConfig, DemoResNet
from tests.core.models.conftest import tiny_seq


def assert_same_logits(model: LoadedModel, source: torch.nn.Module, x: torch.Tensor, atol: float = 1e-5) -> None:
    with torch.no_grad():
        expected = source.eval()(x)
    torch.testing.assert_close(model.predict(x), expected, atol=atol, rtol=1e-4)


def test_demo_reads_card_and_weights(demo_files):
    model = load_model("demo")
    assert model.source_format == "demo" and model.arch == "demo:DemoResNet"
    assert model.input_shape == (3, 32, 32) and model.num_classes == 10
    assert model.class_names == [f"digit {i}" for i in range(10)]
    assert model.module.config.width == 8  # the card's config, not the default
    assert_same_logits(model, demo_files, torch.randn(3, 3, 32, 32))


@pytest.mark.parametrize("missing", ["DEMO_CARD", "DEMO_WEIGHTS"])
def test_demo_missing_files_point_to_train_demo(demo_files, monkeypatch, tmp_path, missing):
    import core.paths as paths

    monkeypatch.setattr(paths, missing, tmp_path / "gone")
    with pytest.raises(ModelLoadError, match="demo model's files are missing") as err:
        load_model("demo")
    assert "edgeslim-cli train-demo" in err.value.fix


def test_torchvision_random_init_with_class_count():
    model = load_model("torchvision:squeezenet1_1", num_classes=7)
    assert (model.source_format, model.name, model.arch) == ("torchvision", "squeezenet1_1", "torchvision:squeezenet1_1")
    assert model.input_shape == (3, 224, 224) and model.num_classes == 7
    assert model.predict(torch.randn(2, 3, 224, 224)).shape == (2, 7)
    assert any("randomly initialised" in n for n in model.notes)


def test_inception_defaults_to_299():
    assert load_model("torchvision:inception_v3", num_classes=3).input_shape == (3, 299, 299)


def test_torchvision_weights_file_sets_classes(tmp_path):
    torch.manual_seed(0)
    source = torchvision.models.squeezenet1_1(num_classes=4).eval()
    torch.save(source.state_dict(), tmp_path / "w.pth")
    model = load_model("torchvision:squeezenet1_1", weights=tmp_path / "w.pth")
    assert model.num_classes == 4 and not model.notes
    assert_same_logits(model, source, torch.randn(2, 3, 64, 64))


@pytest.mark.parametrize("wrap", ["plain", "nested_state_dict", "nested_model", "dataparallel", "lightning"])
def test_state_dict_with_arch(tmp_path, wrap):
    torch.manual_seed(0)
    source = torchvision.models.squeezenet1_1(num_classes=3).eval()
    state = source.state_dict()
    saved = {
        "plain": state,
        "nested_state_dict": {"state_dict": state, "epoch": 7},
        "nested_model": {"model": state, "optimizer": {"lr": 0.1}},
        "dataparallel": {f"module.{k}": v for k, v in state.items()},
        "lightning": {"state_dict": {f"model.{k}": v for k, v in state.items()}},
    }[wrap]
    torch.save(saved, tmp_path / "ckpt.pt")
    model = load_model(str(tmp_path / "ckpt.pt"), arch="torchvision:squeezenet1_1")
    assert model.source_format == "state_dict" and model.num_classes == 3  # read off the head
    assert model.input_shape == (3, 224, 224) and model.arch == "torchvision:squeezenet1_1"
    assert_same_logits(model, source, torch.randn(2, 3, 64, 64))


def test_state_dict_with_demo_arch_infers_width_depth_classes(tmp_path):
    torch.manual_seed(0)
    source = DemoResNet(DemoNetConfig(num_classes=4, width=8, blocks=(1, 2, 1))).eval()
    torch.save(source.state_dict(), tmp_path / "student.bin")
    model = load_model(str(tmp_path / "student.bin"), arch="demo")
    assert model.module.config == source.config
    assert model.num_classes == 4 and model.input_shape == (3, 32, 32)
    assert_same_logits(model, source, torch.randn(2, 3, 32, 32))


def test_state_dict_file(artifacts):
    model = load_model(str(artifacts.state_dict), arch="demo:DemoResNet")
    assert model.source_format == "state_dict" and model.file_path == artifacts.state_dict
    assert_same_logits(model, artifacts.net, artifacts.x)


def test_pt2_with_fixed_batch_runs_any_batch(artifacts):
    model = load_model(str(artifacts.pt2))
    assert model.source_format == "pt2"
    assert model.input_shape == (3, 32, 32) and model.num_classes == 10  # from the program's metadata
    assert any("fixed batch size of 1" in n for n in model.notes)
    assert_same_logits(model, artifacts.net, artifacts.x)  # batch of 5 through a batch-1 program


def test_pt2_with_dynamic_batch(tmp_path):
    source = tiny_seq()
    x = torch.randn(4, 3, 8, 8)
    program = torch.export.export(source, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, tmp_path / "dyn.pt2")
    model = load_model(str(tmp_path / "dyn.pt2"))
    assert model.input_shape == (3, 8, 8) and model.num_classes == 5
    assert not any("fixed batch" in n for n in model.notes)
    assert_same_logits(model, source, torch.randn(7, 3, 8, 8))


@pytest.mark.parametrize("suffix", [".pt", ".ts", ".torchscript", ".pth"])
def test_torchscript_detected_by_contents(tmp_path, suffix):
    source = tiny_seq()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(source).save(str(tmp_path / f"m{suffix}"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the deprecation warning is silenced ...
        model = load_model(str(tmp_path / f"m{suffix}"), input_shape=(3, 8, 8))
    assert model.source_format == "torchscript"
    assert any(".pt2" in n and "ONNX" in n for n in model.notes)  # ... and turned into a note
    assert model.num_classes == 5  # probed with one forward pass at the given shape
    assert_same_logits(model, source, torch.randn(3, 3, 8, 8))


def test_torchscript_without_shape_leaves_it_unknown(artifacts):
    model = load_model(str(artifacts.torchscript))
    assert model.input_shape is None and model.num_classes is None
    assert_same_logits(model, artifacts.net, artifacts.x)


def test_trusted_pickle(artifacts):
    model = load_model(str(artifacts.pickle), trust=True)
    assert model.source_format == "pickle" and isinstance(model.module, DemoResNet)
    assert_same_logits(model, artifacts.net, artifacts.x)


def test_trusted_pickle_of_checkpoint_dict(tmp_path):
    source = tiny_seq()
    torch.save({"model": source, "epoch": 3}, tmp_path / "ckpt.pt")
    model = load_model(str(tmp_path / "ckpt.pt"), trust=True, input_shape=(3, 8, 8))
    assert model.num_classes == 5
    assert_same_logits(model, source, torch.randn(2, 3, 8, 8))


def test_onnx_matches_torch(artifacts):
    model = load_model(str(artifacts.onnx))
    assert model.is_onnx and model.source_format == "onnx"
    assert model.input_shape == (3, 32, 32) and model.num_classes == 10  # batch dim is symbolic
    assert_same_logits(model, artifacts.net, artifacts.x, atol=1e-4)


def test_input_shape_is_used_for_modules_and_checked_for_fixed_graphs(artifacts):
    assert load_model("torchvision:squeezenet1_1", input_shape=(3, 96, 96)).input_shape == (3, 96, 96)
    with pytest.raises(ShapeMismatchError, match=r"\(3, 32, 32\), not \(3, 64, 64\)"):
        load_model(str(artifacts.onnx), input_shape=(3, 64, 64))


def test_num_classes_that_contradicts_the_file(artifacts):
    with pytest.raises(ShapeMismatchError, match="10 outputs") as err:
        load_model(str(artifacts.onnx), num_classes=5)
    assert "--num-classes 10" in err.value.fix


def test_importing_core_models_does_not_load_onnx_runtime():
    code = "import sys, core.models; print(sorted(m for m in ('onnx', 'onnxruntime', 'onnx_tool') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_demo_arch_with_user_weights_needs_no_card(tmp_path, monkeypatch):
    import core.paths as paths

    monkeypatch.setattr(paths, "DEMO_CARD", tmp_path / "no-card.json")
    torch.manual_seed(0)
    source = DemoResNet(DemoNetConfig(num_classes=3, width=4, blocks=(1, 1, 1))).eval()
    torch.save({"state_dict": source.state_dict()}, tmp_path / "student.pt")
    model = load_model("demo", weights=tmp_path / "student.pt")
    assert model.num_classes == 3 and model.module.config == source.config
    assert_same_logits(model, source, torch.randn(2, 3, 32, 32))


def test_corrupt_demo_card(demo_files):
    import core.paths as paths

    paths.DEMO_CARD.write_text("{not json")
    with pytest.raises(ModelLoadError, match="unreadable") as err:
        load_model("demo")
    assert "train-demo" in err.value.fix


def test_program_saved_as_pt_is_recognised(tmp_path):
    source = tiny_seq()
    torch.export.save(torch.export.export(source, (torch.randn(1, 3, 8, 8),)), tmp_path / "program.pt")
    model = load_model(str(tmp_path / "program.pt"))
    assert model.source_format == "pt2" and model.input_shape == (3, 8, 8)
    assert_same_logits(model, source, torch.randn(3, 3, 8, 8))
