"""Session: model and data compared as soon as both are there, in the app's words; the labels file travels with runs."""

from __future__ import annotations

from core.models import load_model
from core.app.session import Session
from tests.core.metrics.conftest import linear_onnx, make_bundle


def test_mismatch_found_when_both_are_set_and_cleared_by_a_labels_file(tmp_path):
    session = Session()
    seen: list[str] = []
    session.subscribe(seen.append)
    model = load_model(str(linear_onnx(tmp_path / "lin.onnx", shape=(3, 4, 4), num_classes=10)))
    session.set_model(model)
    assert session.mismatches == []  # no data yet: nothing to compare
    session.set_data(make_bundle(shape=(3, 4, 4), num_classes=3))
    assert [m.kind for m in session.mismatches] == ["classes"]
    assert "Labels file" in session.mismatch_text() and "--" not in session.mismatch_text()

    labels = tmp_path / "labels.csv"
    labels.write_text("c0,7\nc1,8\nc2,9\n")
    session.set_labels(str(labels))
    assert session.mismatches == [] and session.mismatch_text() == ""
    assert session.fitted_data.label_map.indices == {"c0": 7, "c1": 8, "c2": 9}
    assert session.data_options()["labels"] == str(labels)
    assert seen == ["model", "data", "labels"]


def test_a_bad_labels_file_is_a_mismatch_even_before_a_model(tmp_path):
    session = Session()
    session.set_data(make_bundle(num_classes=3))
    session.set_labels(str(tmp_path / "missing.csv"))
    assert "Cannot read the labels file" in session.mismatch_text()
    session.set_labels(None)
    assert session.mismatches == []


def test_a_fixed_size_model_and_other_data_say_which_image_size_to_set(tmp_path):
    session = Session()
    session.set_model(load_model(str(linear_onnx(tmp_path / "lin.onnx", shape=(3, 4, 4), num_classes=10))))
    session.set_data(make_bundle(shape=(3, 8, 8), num_classes=10))
    assert session.mismatch_text() == ("The model takes 3×4×4 input but the data gives 3×8×8: "
                                       "set Image size on the Data page to 4.")
