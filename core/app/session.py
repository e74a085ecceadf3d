"""The state a user works on: current model, dataset and what is known of them.

Observable without Qt (napari's model/view split): views subscribe with a
callback and are told which field changed; the GUI and tests drive the same
object. Setters run on the caller's thread — the GUI only calls them from its
own thread, after a worker has delivered the loaded objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from core.app.sources import DataSource, ModelSource

Listener = Callable[[str], None]


@dataclass
class Session:
    model: Any = None  # core.models.LoadedModel
    inspection: Any = None  # core.models.ModelInspection
    data: Any = None  # core.data.DatasetBundle
    data_report: Any = None  # core.data.FolderReport for image folders
    image_size: Optional[int] = None  # asked for the next image-folder load (None: the preset's size)
    preset: Optional[str] = None  # preprocessing asked for the current dataset's next load (None: its kind's default)
    labels: Optional[str] = None  # labels file: class folder -> model output
    fitted_data: Any = None  # ``data`` in the model's label space, when both are loaded and fit
    mismatches: list = field(default_factory=list)  # core.metrics.compat.Mismatch, found when both are loaded
    model_source: Optional[ModelSource] = None  # how the current model was opened (trust: for this session only)
    data_source: Optional[DataSource] = None  # how the current data was opened (preset, image size)
    _listeners: list[Listener] = field(default_factory=list, repr=False)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(field_name)`` on every change; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, name: str) -> None:
        for listener in list(self._listeners):
            listener(name)

    def set_model(self, model: Any, inspection: Optional[Any] = None, source: Optional[ModelSource] = None) -> None:
        self.model, self.inspection = model, inspection
        self.model_source = source or (ModelSource(model.spec) if model is not None else None)
        self._check_fit()
        self._emit("model")

    def set_data(self, data: Any, report: Optional[Any] = None, source: Optional[DataSource] = None) -> None:
        self.data, self.data_report = data, report
        if source is None and data is not None:  # opened without saying how: its spec with the defaults
            source = DataSource(data.spec)
        self.data_source = source
        self.preset = source.preset if source is not None else None
        self._check_fit()
        self._emit("data")

    def set_labels(self, path: Optional[str]) -> None:
        """Use the labels file at ``path`` (None: none) to map class folders onto the model's outputs."""
        self.labels = str(path) if path else None
        self._check_fit()
        self._emit("labels")

    def set_image_size(self, size: Optional[int]) -> Optional[str]:
        """The image size for the next image-folder load; returns the current folder's spec when it must reload."""
        size = int(size) if size else None
        if size == self.image_size:
            return None
        self.image_size = size
        self._emit("image_size")
        return self.data.spec if self.data is not None and self.image_size_applies() else None

    def image_size_applies(self) -> bool:
        """Whether an image size means anything: image folders (and the next one opened), not fixed-size datasets."""
        if self.data is None:
            return True
        from core.data.spec import parse_spec
        from core.errors import EdgeSlimError

        try:
            return parse_spec(self.data.spec).kind == "imagefolder"
        except EdgeSlimError:  # the folder is gone: reloading it says so
            return True

    def preprocessing_choices(self) -> list[tuple[str, str]]:
        """(preset, description) the current dataset accepts, its default first; empty without data."""
        if self.data is None:
            return []
        from core.data.presets import choices_for

        return choices_for(self.data.spec)

    def set_preprocessing(self, preset: Optional[str]) -> Optional[str]:
        """Ask for ``preset`` on the current dataset; returns its spec when it must reload (None: nothing changes)."""
        if self.data is None:
            return None
        current = self.data.preprocessing.name
        self.preset = preset or None
        self._emit("preset")
        return None if (preset or self.preprocessing_choices()[0][0]) == current else self.data.spec

    # ------------------------------------------------------------------ model and data fit

    def _check_fit(self) -> None:
        """Compare model and data as soon as both are there: known shapes and classes only (no forward pass here)."""
        self.fitted_data, self.mismatches = None, []
        if self.data is None or (self.model is None and not self.labels):
            return
        from core.errors import EdgeSlimError
        from core.metrics.compat import Mismatch, find_mismatches

        try:
            if self.model is None:  # no model yet: at least read the labels file
                from core.data.labels import read_labels_file

                read_labels_file(self.labels)
                return
            from core.data.labels import match_labels

            data = match_labels(self.data, self.model.num_classes, self.labels)
        except EdgeSlimError as exc:
            self.mismatches = [Mismatch("labels", exc.problem, exc.fix, exc.fix)]
            return
        self.fitted_data = data
        self.mismatches = find_mismatches(self.model, data, probe=False)

    def mismatch_text(self) -> str:
        """Why the model and data cannot run together, with the fix in the app's words ("" when they fit)."""
        return " ".join(m.app_text() for m in self.mismatches)

    def data_options(self) -> dict:
        """How the current data was opened (preset, image size, labels file), as runs store them."""
        return self.data_source.with_labels(self.labels).options() if self.data_source is not None else {}

    def next_data_source(self, spec: str) -> DataSource:
        """How to open the dataset ``spec`` next: with the Data page's image size, and its preprocessing when it reloads
        the current dataset (a different dataset starts from its kind's default preset)."""
        same = self.data is not None and spec == self.data.spec
        return DataSource(spec, preset=self.preset if same else None, image_size=self.image_size)

    def sources(self) -> Optional[tuple[ModelSource, DataSource]]:
        """The current model and data as a run asks for them (the labels file included); None until both are loaded."""
        if self.model_source is None or self.data_source is None or self.model is None or self.data is None:
            return None
        return self.model_source, self.data_source.with_labels(self.labels)
