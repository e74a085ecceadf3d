"""core must import and work with Qt absent: it is the headless engine."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCK_QT = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "gui"):
                raise ImportError(f"blocked for the test: {name}")
            return None

    sys.meta_path.insert(0, BlockQt())
    """
)


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_QT + textwrap.dedent(code)], capture_output=True, text=True, timeout=240
    )


def test_blocker_really_blocks_qt():
    proc = run_blocked("import PySide6")
    assert proc.returncode != 0 and "blocked for the test" in proc.stderr


def test_core_imports_without_qt():
    proc = run_blocked(
        """
        import pkgutil, importlib, core
        names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
        for name in names:
            importlib.import_module(name)
        assert "PySide6" not in sys.modules and "pyqtgraph" not in sys.modules
        print(len(names))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) >= 10


def test_import_core_is_light():
    proc = run_blocked("import core, core.errors, core.jobs; print('torch' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
