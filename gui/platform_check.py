"""Before the first window on Linux: are the system libraries Qt's X11 (xcb) plugin needs there?

Without them Qt prints "Could not load the Qt platform plugin "xcb" … no Qt
platform plugin could be initialized" and aborts, which tells a user nothing
about what to install. The wheels ship Qt but not these X11 libraries, and a
minimal desktop install lacks several (``libxcb-cursor0`` since Qt 6.5). Each
library is loaded by its soname with ctypes, exactly as the dynamic linker will
when Qt loads the plugin, and a missing one becomes the one install line that
fixes it. No Qt import here: this runs before QApplication exists.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

# soname -> (Debian/Ubuntu package, Fedora package): what libqxcb.so / libQt6XcbQpa.so need beyond Qt itself.
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
}
# The usual set, installed together so the next missing one does not stop the app again.
APT_PACKAGES = ("libxcb-cursor0", "libxkbcommon-x11-0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0",
                "libxcb-render-util0", "libxcb-xinerama0", "libxcb-shape0")
DNF_PACKAGES = ("xcb-util-cursor", "libxkbcommon-x11", "xcb-util-wm", "xcb-util-keysyms", "xcb-util-image",
                "xcb-util-renderutil", "libxcb")
EXIT_MISSING = 2


def loadable(soname: str) -> bool:
    """True when the dynamic linker finds ``soname`` (the finder tests replace)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def uses_xcb(env: Mapping[str, str], platform: Optional[str] = None) -> bool:
    """Qt will load the xcb plugin: Linux, and no other platform asked for (a Wayland session picks Wayland)."""
    if not (platform or sys.platform).startswith("linux"):
        return False
    asked = env.get("QT_QPA_PLATFORM", "").strip()
    if asked:
        return asked.split(";")[0].split(":")[0] == "xcb"
    return not env.get("WAYLAND_DISPLAY")


def _os_release(path: Path = Path("/etc/os-release")) -> set[str]:
    """The distribution's ID and ID_LIKE words (empty when unknown)."""
    words: set[str] = set()
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key in ("ID", "ID_LIKE"):
                words.update(value.strip().strip("\"'").lower().split())
    except OSError:
        pass
    return words


@dataclass(frozen=True)
class MissingLibraries:
    """The xcb libraries not found and the lines that install them."""

    sonames: tuple[str, ...]
    distro: frozenset[str]

    def apt_line(self) -> str:
        extra = [XCB_LIBRARIES[s][0] for s in self.sonames if XCB_LIBRARIES[s][0] not in APT_PACKAGES]
        return "sudo apt-get install " + " ".join([*APT_PACKAGES, *dict.fromkeys(extra)])

    def dnf_line(self) -> str:
        extra = [XCB_LIBRARIES[s][1] for s in self.sonames if XCB_LIBRARIES[s][1] not in DNF_PACKAGES]
        return "sudo dnf install " + " ".join([*DNF_PACKAGES, *dict.fromkeys(extra)])

    def install_lines(self) -> list[str]:
        """The one line for this distribution; both when it is neither Debian- nor Fedora-like."""
        if self.distro & {"debian", "ubuntu"}:
            return [self.apt_line()]
        if self.distro & {"fedora", "rhel", "centos"}:
            return [self.dnf_line()]
        return [f"{self.apt_line()}    (Debian, Ubuntu)", f"{self.dnf_line()}    (Fedora)"]

    def message(self) -> str:
        lines = [
            "edgeslim: the window cannot open: Qt's X11 (xcb) platform plugin needs system libraries that are missing: "
            + ", ".join(self.sonames) + ".",
            "Install them with:",
            *(f"    {line}" for line in self.install_lines()),
            "then start edgeslim again (or run it on Wayland with QT_QPA_PLATFORM=wayland).",
        ]
        return "\n".join(lines) + "\n"


def missing_xcb_libraries(
    env: Optional[Mapping[str, str]] = None, finder: Optional[Callable[[str], bool]] = None, platform: Optional[str] = None
) -> Optional[MissingLibraries]:
    """What is missing for the xcb plugin, or None when it is all there (or Qt will not use xcb)."""
    env = os.environ if env is None else env
    if not uses_xcb(env, platform):
        return None
    finder = finder or loadable
    missing = tuple(s for s in XCB_LIBRARIES if not finder(s))
    return MissingLibraries(missing, frozenset(_os_release())) if missing else None


def check_platform(stderr=None) -> int:
    """0 when the window can open; otherwise print the install line and return the exit status (2)."""
    missing = missing_xcb_libraries()
    if missing is None:
        return 0
    (stderr or sys.stderr).write(missing.message())
    return EXIT_MISSING
