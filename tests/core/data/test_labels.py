"""Label maps: class folders named for a subset of a model's outputs (a labels file, ImageNet index, WordNet id)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from core.data import imagenet
from core.data.bundle import DatasetBundle, Preprocessing
from core.data.labels import (
    apply_label_map,
    match_labels,
    read_labels_file,
    resolve_label_map,
    wnid_folders_without_list,
)
from core.errors import DataError, ShapeMismatchError

GOLDEN = "n02099601"  # golden retriever: ImageNet output 207


def fake_wnids(path):
    """A sorted 1000-id list with the golden retriever's id at 207, written as timm's data file."""
    ids = [f"n01{i:06d}" for i in range(207)] + [GOLDEN] + [f"n03{i:06d}" for i in range(208, 1000)]
    path.write_text("\n".join(reversed(ids)) + "\n")  # order in the file does not matter: sorted is the output order
    return path


@pytest.fixture
def wnid_list(tmp_path, monkeypatch):
    path = fake_wnids(tmp_path / "imagenet_synsets.txt")
    monkeypatch.setattr(imagenet, "_timm_synsets_file", lambda: path)
    imagenet.imagenet_wnids.cache_clear()
    yield
    imagenet.imagenet_wnids.cache_clear()


@pytest.fixture
def no_wnid_list(monkeypatch):
    monkeypatch.setattr(imagenet, "_timm_synsets_file", lambda: None)
    imagenet.imagenet_wnids.cache_clear()
    yield
    imagenet.imagenet_wnids.cache_clear()


def bundle(class_names, spec="/data/pets") -> DatasetBundle:
    y = torch.arange(len(class_names)).repeat(2)
    ds = TensorDataset(torch.zeros(len(y), 3, 4, 4), y)
    return DatasetBundle(spec, "pets", list(class_names), (3, 4, 4), ds, ds, ds, Preprocessing("as-is"))


# ---------------------------------------------------------------------------- the file formats


@pytest.mark.parametrize("text", [
    "cat,281\ndog,207\n",
    "folder,index\ncat,281\ndog,207\n",  # a header line
    "cat\t281\n# a comment\n\ndog\t207\n",
    "cat 281\ndog 207\n",
    "cat;281\ndog;207\n",
])
def test_folder_index_lines(tmp_path, text):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    assert read_labels_file(path).lookup == {"cat": 281, "dog": 207}


def test_json_object_and_list(tmp_path):
    (tmp_path / "a.json").write_text('{"cat": 281, "dog": 207}')
    assert read_labels_file(tmp_path / "a.json").lookup == {"cat": 281, "dog": 207}
    (tmp_path / "b.json").write_text('["tench", "goldfish", "shark"]')
    f = read_labels_file(tmp_path / "b.json")
    assert f.ordered and f.lookup["goldfish"] == 1 and f.size == 3


def test_one_name_per_line_in_output_order_also_matches_a_wnid_first_word(tmp_path):
    path = tmp_path / "synsets.txt"
    path.write_text("n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n")
    f = read_labels_file(path)
    assert f.lookup["n01443537"] == 1 and f.lookup["n01440764"] == 0
    assert resolve_label_map(["n01443537"], 2, path).indices == {"n01443537": 1}


def test_a_bad_file_is_a_data_error_with_the_format(tmp_path):
    with pytest.raises(DataError, match="cannot read the labels file"):
        read_labels_file(tmp_path / "missing.csv")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(DataError, match="empty"):
        read_labels_file(tmp_path / "empty.txt")
    (tmp_path / "bad.json").write_text('{"cat": "x"}')
    with pytest.raises(DataError, match="neither"):
        read_labels_file(tmp_path / "bad.json")


# ---------------------------------------------------------------------------- resolving a map


def test_a_folder_the_file_does_not_name_is_named_with_the_line_to_add(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("cat,281\n")
    with pytest.raises(DataError) as info:
        resolve_label_map(["cat", "dog"], 1000, path)
    assert "'dog'" in info.value.problem and "`dog,INDEX`" in info.value.fix


def test_an_index_beyond_the_outputs_is_refused(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("cat,3\ndog,12\n")
    with pytest.raises(ShapeMismatchError, match="maps 'dog' to output 12 but the model has 10 outputs"):
        resolve_label_map(["cat", "dog"], 10, path)


def test_folders_named_by_imagenet_index_need_no_file(no_wnid_list):
    m = resolve_label_map(["1", "207", "5"], 1000)
    assert m.indices == {"1": 1, "207": 207, "5": 5}
    assert m.output_names[207] == "golden retriever" and len(m.output_names) == 1000
    assert resolve_label_map(["1", "207"], 10) is None  # not an ImageNet model: folders are not read as indices
    assert resolve_label_map(["cat", "207"], 1000) is None


def test_folders_named_by_wordnet_id_use_the_installed_id_list(wnid_list):
    m = resolve_label_map([GOLDEN, "1"], 1000)
    assert m.indices == {GOLDEN: 207, "1": 1}
    assert "WordNet id" in m.source


def test_without_an_id_list_wordnet_folders_need_a_file(no_wnid_list, tmp_path):
    assert resolve_label_map([GOLDEN, "1"], 1000) is None
    assert wnid_folders_without_list([GOLDEN, "1"])
    path = tmp_path / "labels.csv"
    path.write_text(f"{GOLDEN},207\n1,1\n")
    assert resolve_label_map([GOLDEN, "1"], 1000, path).indices == {GOLDEN: 207, "1": 1}


# ---------------------------------------------------------------------------- applying it


def test_applied_map_turns_labels_into_output_indices(no_wnid_list):
    data = bundle(["207", "5"])
    mapped = match_labels(data, 1000)
    assert mapped is not data and mapped.num_classes == 1000
    assert [mapped.val[i][1] for i in range(4)] == [207, 5, 207, 5]
    assert any("2 class folders mapped onto the model's 1000 outputs" in n for n in mapped.notes)
    assert {label for _, label in mapped.preview("val", 4)} == {"golden retriever", mapped.class_names[5]}
    assert match_labels(mapped, 1000) is mapped  # already in the model's label space
    assert data.val[0][1] == 0  # the original bundle is untouched


def test_nothing_to_map_returns_the_data_itself(no_wnid_list):
    data = bundle(["cat", "dog"])
    assert match_labels(data, 2) is data
    assert match_labels(data, 1000) is data  # names that are neither indices nor ids: no guess
    demo = bundle([str(i) for i in range(10)], spec="demo")
    assert match_labels(demo, 1000) is demo  # the demo digits are not ImageNet classes


def test_a_file_with_as_many_outputs_reorders(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("dog\ncat\n")  # output 0 is dog
    mapped = apply_label_map(bundle(["cat", "dog"]), resolve_label_map(["cat", "dog"], 2, path))
    assert mapped.class_names == ["dog", "cat"]
    assert [mapped.val[i][1] for i in range(2)] == [1, 0]
