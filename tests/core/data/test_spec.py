"""Specs, presets and splits: the small pieces every loader relies on."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import load_dataset, parse_spec
from core.data.presets import folder_preset, preset_name
from core.data.split import hold_out, stratified_split
from core.errors import DataError


def test_spec_forms(tmp_path):
    assert parse_spec(" demo ").kind == "demo"
    folder = parse_spec(str(tmp_path))
    assert folder.kind == "imagefolder" and folder.path == tmp_path
    assert parse_spec(f"imagefolder:{tmp_path}").path == tmp_path
    for kind in ("cifar10", "mnist", "fashionmnist"):
        spec = parse_spec(f"{kind.upper()}:{tmp_path}")
        assert spec.kind == kind and spec.path == tmp_path


def test_existing_folder_with_a_colon_is_a_folder(tmp_path):
    folder = tmp_path / "run:3"
    folder.mkdir()
    assert parse_spec(str(folder)).kind == "imagefolder"


@pytest.mark.parametrize(
    "spec, needle, lists_forms",
    [
        ("foo:bar", "unknown dataset kind 'foo'", True),
        ("", "no dataset given", True),
        ("/definitely/not/here", "no such dataset folder", True),
        ("cifar10:", "names no folder", False),
    ],
)
def test_bad_specs_say_what_is_valid(spec, needle, lists_forms):
    with pytest.raises(DataError) as info:
        load_dataset(spec)
    assert needle in info.value.problem
    if lists_forms:
        for form in ("demo", "a folder path", "imagefolder:PATH", "cifar10:PATH", "mnist:PATH", "fashionmnist:PATH"):
            assert form in info.value.fix
    else:
        assert "cifar10:/data/cifar10" in info.value.fix


def test_unknown_and_misapplied_presets():
    with pytest.raises(DataError) as info:
        preset_name("imagefolder", "huge")
    assert "unknown preset 'huge'" in str(info.value) and "imagenet, as-is" in str(info.value)
    with pytest.raises(DataError, match="'cifar' does not apply to mnist.*mnist, rgb32"):
        preset_name("mnist", "cifar")
    assert preset_name("mnist", None) == "mnist" and preset_name("imagefolder", None) == "imagenet"


def test_image_size_sets_the_crop_with_the_imagenet_ratio():
    assert (folder_preset(None, 224).resize, folder_preset(None, 224).crop) == (256, 224)
    assert (folder_preset(None, 32).resize, folder_preset(None, 32).crop) == (37, 32)
    assert (folder_preset("as-is", 48).resize, folder_preset("as-is", 48).crop) == (48, 48)
    assert folder_preset("as-is", None).resize is None
    with pytest.raises(DataError, match="positive"):
        folder_preset(None, 0)


def test_stratified_split_keeps_one_validation_image_per_class():
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3])
    val, calib, train = stratified_split(labels, (0.2, 0.1), seed=0, min_first=1)
    assert sorted(set(labels[val])) == [0, 1, 2]  # class 3 has one image: it stays in training
    assert 3 in labels[train]
    everything = np.concatenate([val, calib, train])
    assert len(everything) == len(set(everything.tolist())) == len(labels)
    again = stratified_split(labels, (0.2, 0.1), seed=0, min_first=1)
    assert all(np.array_equal(a, b) for a, b in zip((val, calib, train), again))


def test_hold_out_takes_at_least_one():
    held, rest = hold_out(np.array([0, 1, 0, 1]), 0.1, seed=0)
    assert len(held) == 1 and len(rest) == 3 and not set(held) & set(rest)
    held, rest = hold_out(np.array([0]), 0.1, seed=0)
    assert len(held) == 0 and list(rest) == [0]  # the only image stays for training
