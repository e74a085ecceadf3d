"""The window checks model and data as soon as both are loaded: the mismatch in its own words, Run disabled until fixed."""

from __future__ import annotations

import pytest

from tests.gui.conftest import wait_idle
from tests.gui.test_main_window import make_image_folder


def test_a_mismatch_is_shown_with_the_app_fix_and_blocks_run_until_fixed(qtbot, demo_window, tmp_path):
    from core.models import load_model
    from core.models.onnx_export import export_onnx

    win = demo_window
    onnx_path = export_onnx(load_model("demo").module, (3, 32, 32), tmp_path / "demo32.onnx")  # fixed 32×32, 10 classes
    win.load_model(str(onnx_path))
    win.load_data(str(make_image_folder(tmp_path / "pets", per_class=6, size=224)))  # 3 classes, 224 px after the preset
    wait_idle(qtbot, win)
    assert win.errors == []

    fit = win.data_page.summary.values["Model fit"].text()
    assert "3×32×32 input but the data gives 3×224×224" in fit and "10 outputs but the data has 3 classes" in fit
    assert "Image size on the Data page to 32" in fit and "Labels file" in fit
    assert "--" not in fit  # no command-line flags in the window
    blocker = win.compress_page.run_blocker()
    assert "Image size on the Data page to 32" in blocker
    assert not win.compress_page.run_button.isEnabled()
    assert "Image size" in win.compress_page.reason_label.text()
    assert not win.model_page.evaluate_button.isEnabled()
    assert "Image size" in win.model_page.evaluate_button.toolTip()
    assert "Image size on the Data page to 32" in win.model_page.summary.values["Baseline"].text()

    # the first fix: the image size control reloads the folder at 32 px
    win.data_page.image_size.setValue(32)
    win.data_page.apply_image_size()
    wait_idle(qtbot, win)
    assert tuple(win.session.data.input_shape) == (3, 32, 32)
    assert [m.kind for m in win.session.mismatches] == ["classes"]

    # the second: a labels file mapping the folders onto three of the model's ten outputs
    labels = tmp_path / "labels.csv"
    labels.write_text("cat,3\ndog,5\nfox,8\n")
    win.session.set_labels(str(labels))
    assert win.session.mismatches == []
    assert "fits" in win.data_page.summary.values["Model fit"].text()
    assert win.data_page.summary.values["Labels"].text() == "labels.csv"
    assert "outputs" not in win.compress_page.run_blocker() and "Image size" not in win.compress_page.run_blocker()
    assert win.model_page.evaluate_button.isEnabled()
    assert win.model_page.summary.values["Baseline"].text().startswith("not measured yet")
    model, data = win.session.sources()  # what a run asks for: the Data page's image size and labels file
    assert data.image_size == 32 and data.labels == str(labels.resolve())


@pytest.mark.slow
def test_the_worker_measures_with_the_image_size_and_labels_chosen(qtbot, demo_window, tmp_path):
    win = demo_window
    win.session.set_image_size(32)
    win.load_data(str(make_image_folder(tmp_path / "pets", per_class=6, size=224)))
    wait_idle(qtbot, win)
    labels = tmp_path / "labels.csv"
    labels.write_text("cat,3\ndog,5\nfox,8\n")
    win.session.set_labels(str(labels))
    assert win.session.mismatches == []  # the demo model (dynamic size, 10 outputs) with the mapped folder
    win.evaluate_baseline()
    wait_idle(qtbot, win)
    assert win.errors == []
    assert "top-1" in win.model_page.summary.values["Baseline"].text()


def test_a_bad_labels_file_is_shown_on_the_data_page(qtbot, demo_window, tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("3,0\n")  # names no demo class folder but "3"
    demo_window.session.set_labels(str(bad))
    fit = demo_window.data_page.summary.values["Model fit"].text()
    assert "does not name the class folder" in fit
    assert "does not name" in demo_window.compress_page.run_blocker()
    demo_window.data_page.clear_labels_button.click()
    assert demo_window.session.mismatches == [] and demo_window.compress_page.run_blocker() == ""


def test_the_preprocessing_picker_reloads_the_folder_and_runs_use_it(qtbot, demo_window, tmp_path):
    """Issue 17 #10: the preprocessing the messages point at is a control on the Data page."""
    win = demo_window
    page = win.data_page
    assert not page.preprocessing.isEnabled()  # the demo has one preprocessing: nothing to pick
    assert [page.preprocessing.itemData(i) for i in range(page.preprocessing.count())] == ["demo"]
    win.load_data(str(make_image_folder(tmp_path / "pets", per_class=6, size=40)))
    wait_idle(qtbot, win)
    assert page.preprocessing.isEnabled() and page.preprocessing.currentData() == "imagenet"
    assert tuple(win.session.data.input_shape) == (3, 224, 224)
    page.preprocessing.setCurrentIndex(page.preprocessing.findData("as-is"))
    page.apply_preprocessing()
    wait_idle(qtbot, win)
    assert win.errors == []
    assert win.session.data.preprocessing.name == "as-is"
    assert tuple(win.session.data.input_shape) == (3, 40, 40)  # as-is keeps the photos' own size
    assert page.summary.values["Preprocessing"].text().startswith("as-is")
    assert page.preprocessing.currentData() == "as-is"
    _model, data = win.session.sources()
    assert data.preset == "as-is"
    assert page.image_size.isEnabled()
    win.load_data("demo")
    wait_idle(qtbot, win)
    assert not page.image_size.isEnabled() and not page.preprocessing.isEnabled()  # fixed 32 px, one preset
