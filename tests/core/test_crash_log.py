"""An internal error leaves its traceback in a file of its own, and reporting it never fails in turn."""

from __future__ import annotations

import tempfile

import core.cli as cli
import core.cli.basic as basic
from core.crash_log import describe, write_crash_log


def _crash_with(monkeypatch, exc: BaseException) -> None:
    def boom(_args):
        raise exc

    monkeypatch.setattr(basic, "cmd_techniques", boom)  # build_parser binds it at each main() call


def _logged(err: str) -> str:
    assert "edgeslim-cli: internal error: " in err and "please report it" in err
    return err.split("details in ", 1)[1].split(";", 1)[0]


def test_each_crash_gets_its_own_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    logs = []
    for n in (1, 2):
        _crash_with(monkeypatch, RuntimeError(f"boom {n}\nsecond line"))
        assert cli.main(["techniques"]) == cli.EXIT_INTERNAL
        err = capsys.readouterr().err
        assert f"RuntimeError: boom {n} (" in err and "second line" not in err and "Traceback" not in err
        logs.append(_logged(err))
    assert logs[0] != logs[1]
    for n, log in enumerate(logs, start=1):  # the first report survives the second crash
        text = open(log, encoding="utf-8").read()
        assert "Traceback" in text and f"boom {n}" in text
    assert all(log.startswith(str(tmp_path / "state" / "EdgeSlim" / "crash-logs")) for log in logs)


def test_no_writable_folder_still_gives_one_line(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folders should be")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    monkeypatch.setattr(tempfile, "tempdir", str(blocker))  # what gettempdir() returns
    _crash_with(monkeypatch, KeyError("k"))
    assert cli.main(["techniques"]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: KeyError: 'k'" in err and "details could not be saved" in err


def test_a_message_that_cannot_be_shown_is_still_reported(tmp_path, monkeypatch, capsys):
    class Nasty(Exception):
        def __str__(self):
            raise ValueError("no text for you")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    _crash_with(monkeypatch, Nasty())
    assert cli.main(["techniques"]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "internal error: Nasty: (its message could not be shown)" in err and "Traceback" not in err


def test_write_crash_log_falls_back_and_never_raises(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    good = tmp_path / "good"
    log = write_crash_log("trace", dirs=[blocker / "sub", good])
    assert log is not None and log.parent == good and log.read_text() == "trace"
    assert write_crash_log("trace", dirs=[blocker]) is None
    assert write_crash_log("trace", dirs=[None]) is None  # type: ignore[list-item]
    assert describe(OSError(28, "No space left on device")) == "OSError: [Errno 28] No space left on device"
