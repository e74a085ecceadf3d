"""First start on a minimal Linux: missing X11 libraries become the install line, before Qt can abort."""

from __future__ import annotations

import pytest

from gui import platform_check
from gui.platform_check import APT_PACKAGES, missing_xcb_libraries

APT_LINE = ("sudo apt-get install libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 "
            "libxcb-render-util0 libxcb-xinerama0 libxcb-shape0")
X11 = {"DISPLAY": ":0"}


def without(*sonames):
    return lambda soname: soname not in sonames


@pytest.fixture
def debian(monkeypatch):
    monkeypatch.setattr(platform_check, "_os_release", lambda: {"ubuntu", "debian"})


def test_os_release_words(tmp_path):
    release = tmp_path / "os-release"
    release.write_text('PRETTY_NAME="Ubuntu 24.04"\nID=ubuntu\nID_LIKE="debian"\n')
    assert platform_check._os_release(release) == {"ubuntu", "debian"}
    assert platform_check._os_release(tmp_path / "none") == set()


def test_a_missing_library_gives_the_one_apt_line(debian):
    missing = missing_xcb_libraries(X11, without("libxcb-cursor.so.0"), platform="linux")
    assert missing is not None and missing.sonames == ("libxcb-cursor.so.0",)
    assert missing.install_lines() == [APT_LINE]
    text = missing.message()
    assert "libxcb-cursor.so.0" in text and APT_LINE in text


def test_fedora_gets_the_dnf_line(monkeypatch):
    monkeypatch.setattr(platform_check, "_os_release", lambda: {"fedora"})
    missing = missing_xcb_libraries(X11, without("libxcb-icccm.so.4"), platform="linux")
    [line] = missing.install_lines()
    assert line.startswith("sudo dnf install ") and "xcb-util-wm" in line and "xcb-util-cursor" in line


def test_an_unknown_distribution_gets_both_lines(monkeypatch):
    monkeypatch.setattr(platform_check, "_os_release", lambda: {"gentoo"})
    lines = missing_xcb_libraries(X11, without("libxcb-cursor.so.0"), platform="linux").install_lines()
    assert lines[0].startswith("sudo apt-get install") and lines[1].startswith("sudo dnf install")


def test_a_missing_library_outside_the_usual_set_is_added_to_the_line(debian):
    missing = missing_xcb_libraries(X11, without("libxcb-randr.so.0"), platform="linux")
    assert missing.apt_line() == APT_LINE + " libxcb-randr0"
    assert "libxcb-randr0" not in APT_PACKAGES


@pytest.mark.parametrize("env,platform", [
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux"),
    ({"QT_QPA_PLATFORM": "wayland"}, "linux"),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux"),  # a Wayland session: Qt picks its Wayland plugin
    ({}, "darwin"),
    ({}, "win32"),
])
def test_no_check_where_qt_will_not_load_xcb(env, platform):
    assert missing_xcb_libraries(env, without(*platform_check.XCB_LIBRARIES), platform=platform) is None


def test_xcb_asked_for_explicitly_is_checked(debian):
    env = {"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}
    assert missing_xcb_libraries(env, without("libxcb-cursor.so.0"), platform="linux") is not None
    assert missing_xcb_libraries(env, lambda soname: True, platform="linux") is None


def test_the_app_prints_the_line_and_exits_2_before_creating_the_application(monkeypatch, capsys, debian):
    import sys

    from gui import app

    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(platform_check, "loadable", without("libxcb-cursor.so.0", "libxkbcommon-x11.so.0"))
    created = []
    monkeypatch.setattr("PySide6.QtWidgets.QApplication.__init__", lambda *a, **k: created.append(a))
    assert app.main(["--demo"]) == 2
    err = capsys.readouterr().err
    assert APT_LINE in err and "libxcb-cursor.so.0, libxkbcommon-x11.so.0" in err
    assert created == []
