"""The main window's menu bar: File (open, recipes, workspaces, recent), Run, Go, Tools and Help."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence

from gui.icons import icon



def build_menu(self) -> None:
    """File, Run, Go, Tools and Help; the Run and Cancel actions are kept on the window (it enables them)."""
    file_menu = self.menuBar().addMenu("&File")
    file_menu.addAction("Open &model…", QKeySequence.StandardKey.Open, self.open_model_dialog)
    file_menu.addAction("Open &dataset folder…", QKeySequence("Ctrl+D"), self.open_data_dialog)
    file_menu.addAction("Load the d&emo model and data", self.load_demo)
    file_menu.addSeparator()
    file_menu.addAction("Open &recipe…", lambda: (self.show_page("compress"), self.compress_page.open_recipe()))
    file_menu.addAction("&Save recipe…", QKeySequence.StandardKey.Save, lambda: (self.show_page("compress"), self.compress_page.save_recipe()))
    file_menu.addSeparator()
    file_menu.addAction("Open &workspace…", self.open_workspace_dialog)
    file_menu.addAction("&New workspace…", self.new_workspace_dialog)
    self.recent_menu = file_menu.addMenu("Recen&t")
    self.recent_menu.aboutToShow.connect(self._fill_recent)
    self._fill_recent()
    file_menu.addSeparator()
    file_menu.addAction("&Quit", QKeySequence.StandardKey.Quit, self.close)
    run_menu = self.menuBar().addMenu("&Run")
    self.run_action = QAction(icon("run"), "&Run recipe", self)
    self.run_action.setShortcut(QKeySequence("Ctrl+R"))
    self.run_action.triggered.connect(self.run_recipe)
    run_menu.addAction(self.run_action)
    self.cancel_action = QAction(icon("stop"), "&Cancel running work", self)
    self.cancel_action.setShortcut(QKeySequence("Ctrl+."))
    self.cancel_action.triggered.connect(self.jobs.cancel_all)
    self.cancel_action.setEnabled(False)
    run_menu.addAction(self.cancel_action)
    run_menu.addSeparator()
    run_menu.addAction("&Evaluate baseline", self.evaluate_baseline)
    view_menu = self.menuBar().addMenu("&Go")
    for i, name in enumerate(self.PAGES):
        view_menu.addAction(icon(name.lower()), name, QKeySequence(f"Ctrl+{i + 1}"), lambda i=i: self.sidebar.setCurrentRow(i))
    tools_menu = self.menuBar().addMenu("&Tools")
    tools_menu.addAction("&Devices… (measure on your board)", lambda: show_devices(self))
    help_menu = self.menuBar().addMenu("&Help")
    help_menu.addAction("&About EdgeSlim", self.show_about)


def show_devices(window, run_id=None) -> None:
    """Tools → Devices…: the user's boards, their check, and measuring a run on one (lazy: asyncssh loads here)."""
    from gui.dialogs.devices_dialog import DevicesDialog

    window._open_dialog(DevicesDialog(window.workspace.path, run_id, window))


def show_classes(window, run_id: int) -> None:
    """Explore → a run's "Per-class accuracy…": classes before and after, the confusion matrices, the changed images."""
    from gui.dialogs.classes_dialog import ClassesDialog

    window._open_dialog(ClassesDialog(window, run_id))
