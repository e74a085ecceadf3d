"""``run`` and ``sweep --device``: a bad form or a missing GPU is one line before anything loads; the device is recorded."""

from __future__ import annotations

import json

import pytest
import torch

from core.cli import main
from tests.core.cli.helpers import assert_clear_error, run_cli

SPARSE = '[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.3\n'


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "recipe.toml"
    path.write_text(SPARSE)
    return path


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_device_help_says_it_is_the_training_device(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "--device" in out and "training device" in out


def test_a_bad_device_form_exits_2_before_loading(capsys, tmp_path, recipe):
    code, _, err = run_cli(capsys, "run", str(recipe), "--model", str(tmp_path / "missing.pt"), "--data", "demo",
                           "--out", str(tmp_path / "o"), "--device", "gpu0", "--quiet")
    assert_clear_error(code, err, "unknown device 'gpu0'", "cuda:N")  # not the missing model: nothing was loaded


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_cuda_without_a_gpu_exits_2_with_one_line(capsys, tmp_path, recipe, command):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(f'recipe = "{recipe.name}"\n[grid]\n"prune.unstructured.sparsity" = [0.2]\n')
    where = ["--out", str(tmp_path / "o")] if command == "run" else ["--workspace", str(tmp_path / "ws")]
    code, _, err = run_cli(capsys, command, str(recipe if command == "run" else sweep), "--model", str(tmp_path / "missing.pt"),
                           "--data", "demo", *where, "--device", "cuda", "--quiet")
    assert_clear_error(code, err, "no CUDA GPU")
    assert not (tmp_path / "ws").exists()


def test_the_run_records_its_device_in_result_json_and_the_store(capsys, tmp_path, recipe):
    common = ("--model", "demo", "--data", "demo", "--device", "cpu", "--repeats", "3", "--threads", "1", "--json", "--quiet")
    code, out, err = run_cli(capsys, "run", str(recipe), "--out", str(tmp_path / "o"), *common)
    assert code == 0, err
    report = json.loads(out)
    assert report["device"] == "cpu"
    assert json.loads((tmp_path / "o" / "result.json").read_text())["device"] == "cpu"
    assert json.loads((tmp_path / "o" / "result.json").read_text())["options"]["device"] == "cpu"
    code, out, err = run_cli(capsys, "run", str(recipe), "--workspace", str(tmp_path / "ws"), *common)
    assert code == 0, err
    assert json.loads(out)["device"] == "cpu"
    code, out, _ = run_cli(capsys, "runs", "show", "1", "--workspace", str(tmp_path / "ws"), "--json")
    assert json.loads(out)["device"] == "cpu" and json.loads(out)["options"]["device"] == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_the_missing_gpu_fix_names_each_front_end_s_control():
    from core.errors import EdgeSlimError
    from core.torch_device import resolve_device

    with pytest.raises(EdgeSlimError) as err:
        resolve_device("cuda")
    assert "Set --device to auto or cpu" in str(err.value)
    assert "“Train on” in the Compress page's Run box" in err.value.for_app() and "--" not in err.value.for_app()
