"""The state a user works on: current model, dataset and what is known of them.

Observable without Qt (napari's model/view split): views subscribe with a
callback and are told which field changed; the GUI and tests drive the same
object. Setters run on the caller's thread — the GUI only calls them from its
own thread, after a worker has delivered the loaded objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

Listener = Callable[[str], None]


@dataclass
class Session:
    model: Any = None  # core.models.LoadedModel
    inspection: Any = None  # core.models.ModelInspection
    data: Any = None  # core.data.DatasetBundle
    data_report: Any = None  # core.data.FolderReport for image folders
    _listeners: list[Listener] = field(default_factory=list, repr=False)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(field_name)`` on every change; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, name: str) -> None:
        for listener in list(self._listeners):
            listener(name)

    def set_model(self, model: Any, inspection: Optional[Any] = None) -> None:
        self.model, self.inspection = model, inspection
        self._emit("model")

    def set_data(self, data: Any, report: Optional[Any] = None) -> None:
        self.data, self.data_report = data, report
        self._emit("data")
