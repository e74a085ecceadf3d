"""Every bad input is a ModelLoadError with a problem and a fix, never a traceback."""

from __future__ import annotations

import random
import sys
import textwrap

import pytest
import torch
import torchvision

from core.errors import ModelLoadError, ShapeMismatchError, UntrustedPickleError
from core.models import load_model
from tests.core.models.conftest import tiny_seq

FORMATS = ["state_dict", "pickle", "torchscript", "pt2", "onnx"]


def load_error(spec, **kwargs) -> ModelLoadError:
    with pytest.raises(ModelLoadError) as err:
        load_model(spec, **kwargs)
    assert err.value.problem and err.value.fix, "every error carries a problem and a fix"
    return err.value


def test_missing_file(tmp_path):
    err = load_error(str(tmp_path / "nope.pt"))
    assert err.problem.startswith("no such file:") and "nope.pt" in err.problem
    assert "torchvision:NAME" in err.fix


def test_unknown_extension_lists_supported(tmp_path):
    (tmp_path / "model.h5").write_bytes(b"HDF")
    err = load_error(str(tmp_path / "model.h5"))
    assert "`.h5`" in err.problem
    for ext in (".pt", ".pth", ".pt2", ".onnx"):
        assert ext in err.fix


def test_folder_is_not_a_model(tmp_path):
    assert "folder" in load_error(str(tmp_path)).problem


def test_unknown_spec_prefix():
    err = load_error("hub:resnet18")  # timm:NAME is a spec now (tests/core/models/test_timm_arch.py)
    assert "`hub:`" in err.problem and "torchvision:NAME" in err.fix


def test_unknown_torchvision_name_suggests_close_matches():
    err = load_error("torchvision:resnet19")
    assert "resnet19" in err.problem
    assert "torchvision:resnet18" in err.fix and "list_models" in err.fix


def test_unknown_arch_for_state_dict_suggests(artifacts):
    err = load_error(str(artifacts.state_dict), arch="torchvision:mobilenetv2")
    assert "torchvision:mobilenet_v2" in err.fix


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_damaged_files(artifacts, tmp_path, fmt, damage):
    source = getattr(artifacts, fmt)
    data = source.read_bytes()
    bad = tmp_path / source.name
    bad.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "garbage": random.Random(7).randbytes(4096)}[damage])
    err = load_error(str(bad), arch="demo", trust=True)
    assert bad.name in err.problem
    if damage == "empty":
        assert "empty" in err.problem
    else:
        assert "truncated or corrupt" in err.problem and "again" in err.fix


def test_zip_that_is_not_a_torch_archive(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "m.pt", "w") as zf:
        zf.writestr("m/readme.txt", "hello")
    assert "not a PyTorch one" in load_error(str(tmp_path / "m.pt")).problem


def test_untrusted_pickle_asks_for_trust(artifacts):
    err = load_error(str(artifacts.pickle))
    assert isinstance(err, UntrustedPickleError)
    assert err.problem == f"{artifacts.pickle.name} is a full pickle: loading it runs code from the file"
    assert "--trust" in err.fix and "trust this file" in err.fix


def test_trusted_pickle_whose_class_is_not_installed(tmp_path, monkeypatch):
    (tmp_path / "gone_module.py").write_text(
        textwrap.dedent(
            """
            from torch import nn
            class Gone(nn.Linear):
                pass
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import gone_module

    torch.save(gone_module.Gone(2, 2), tmp_path / "gone.pt")
    monkeypatch.delitem(sys.modules, "gone_module")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    err = load_error(str(tmp_path / "gone.pt"), trust=True)
    assert "not installed" in err.problem and "gone_module" in err.problem


def test_file_that_holds_no_weights(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    assert "not model weights" in load_error(str(tmp_path / "list.pt"), arch="demo").problem


def test_state_dict_without_arch(artifacts):
    err = load_error(str(artifacts.state_dict))
    assert "only weights" in err.problem and "--arch demo" in err.problem  # it recognises the demo family
    assert "--arch torchvision:NAME" in err.fix


def test_state_dict_with_wrong_num_classes(tmp_path):
    torch.save(torchvision.models.squeezenet1_1(num_classes=3).state_dict(), tmp_path / "w.pth")
    err = load_error(str(tmp_path / "w.pth"), arch="torchvision:squeezenet1_1", num_classes=10)
    assert "classifier.1.weight (file (3, 512, 1, 1), model (10, 512, 1, 1))" in err.problem
    assert "--num-classes 3" in err.fix


def test_state_dict_for_another_arch_names_keys(tmp_path):
    torch.save(tiny_seq().state_dict(), tmp_path / "w.pth")
    err = load_error(str(tmp_path / "w.pth"), arch="torchvision:squeezenet1_1")
    assert "missing: features.0.weight" in err.problem and "unexpected: 0.weight" in err.problem
    assert "--arch" in err.fix


def test_weights_file_for_another_arch_is_still_refused(tmp_path):
    # a head of another class count is replaced (tests/core/models/test_load_pretrained.py); other layers must fit
    torch.save(torchvision.models.squeezenet1_1(num_classes=3).state_dict(), tmp_path / "w.pth")
    err = load_error("torchvision:resnet18", weights=tmp_path / "w.pth", num_classes=5)
    assert "do not fit the architecture" in err.problem and "torchvision:resnet18" in err.fix


def test_weights_must_be_a_state_dict(artifacts):
    err = load_error("demo", weights=artifacts.pickle)
    assert "full pickle, not a state_dict" in err.problem


def test_weights_with_a_file_spec(artifacts):
    assert "--weights" in load_error(str(artifacts.onnx), weights=artifacts.state_dict).problem


def test_bad_input_shape():
    with pytest.raises(ShapeMismatchError, match="C,H,W"):
        load_model("torchvision:squeezenet1_1", input_shape=(3, 32))


def test_wrong_shape_for_a_module_without_one(artifacts):
    with pytest.raises(ShapeMismatchError, match=r"does not run on input shape \(1, 32, 32\)") as err:
        load_model(str(artifacts.torchscript), input_shape=(1, 32, 32))
    assert "--input-shape" in str(err.value) and "“Input shape”" in err.value.for_app()
