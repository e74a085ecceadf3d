"""Session: the Data page's preprocessing and image size say when the current dataset must reload, and travel with runs."""

from __future__ import annotations

from core.app.session import Session
from core.app.sources import DataSource
from core.data import load_dataset
from tests.gui.test_main_window import make_image_folder


def test_a_folder_offers_its_presets_and_a_new_preset_reloads_it_and_is_what_a_run_asks_for(tmp_path):
    folder = str(make_image_folder(tmp_path / "pets", per_class=4, size=40))
    session = Session()
    assert session.preprocessing_choices() == [] and session.set_preprocessing("as-is") is None  # nothing loaded
    session.set_data(load_dataset(folder), source=session.next_data_source(folder))
    names = [name for name, _ in session.preprocessing_choices()]
    assert names == ["imagenet", "as-is"]  # the default first
    assert "centre-crop 224" in dict(session.preprocessing_choices())["imagenet"]

    assert session.set_preprocessing("imagenet") is None  # already in use: no reload
    assert session.set_preprocessing("as-is") == folder
    source = session.next_data_source(folder)
    assert source.preset == "as-is"
    session.set_data(load_dataset(folder, preset=source.preset), source=source)
    assert session.data.preprocessing.name == "as-is"
    assert session.data_source.preset == "as-is" and session.data_options()["preset"] == "as-is"

    other = str(make_image_folder(tmp_path / "birds", per_class=4, size=40))
    assert session.next_data_source(other).preset is None  # another dataset starts from its default


def test_image_size_reloads_a_folder_but_not_the_demo(tmp_path):
    folder = str(make_image_folder(tmp_path / "pets", per_class=4, size=40))
    session = Session()
    session.set_data(load_dataset(folder), source=DataSource(folder))
    assert session.set_image_size(32) == folder
    assert session.set_image_size(32) is None  # unchanged
    session.set_data(load_dataset("demo"), source=DataSource("demo"))
    assert session.set_image_size(64) is None  # the demo has a fixed size
    assert [name for name, _ in session.preprocessing_choices()] == ["demo"]
