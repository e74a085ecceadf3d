"""The desktop bundle's recipe stays consistent with the package (fast: no PyInstaller, no build).

The build itself (``bash packaging/build.sh``) takes many minutes and is not
part of CI; these checks catch what usually breaks it quietly: a new resource
folder the spec does not ship, an icon size missing, a .desktop file a desktop
refuses, an entry point that would let the worker child start a second window.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


def _load_config():
    # packaging/ is not a Python package on purpose: it would shadow PyPI's "packaging"
    spec = importlib.util.spec_from_file_location("bundle_config", PACKAGING / "bundle_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cfg = _load_config()


# --------------------------------------------------------------------------- resources


def test_every_resource_folder_is_shipped_or_deliberately_left_out():
    shipped, left_out = set(cfg.SHIPPED_RESOURCES), set(cfg.NOT_SHIPPED_RESOURCES)
    assert not shipped & left_out
    unlisted = cfg.resource_folders_with_files() - shipped - left_out
    assert not unlisted, f"resources/{sorted(unlisted)} not in bundle_config.SHIPPED_RESOURCES nor NOT_SHIPPED_RESOURCES"
    for name in shipped:
        assert (cfg.RESOURCES / name).is_dir(), f"bundle_config ships resources/{name}, which does not exist"


def test_spec_datas_carry_every_shipped_folder_to_the_path_the_app_reads():
    destinations = {dest: Path(src) for src, dest in cfg.resource_datas()}
    for name in cfg.SHIPPED_RESOURCES:
        # core.paths.RESOURCES_DIR is the "resources" package folder: in the bundle, _internal/resources
        assert destinations.get(f"resources/{name}") == cfg.RESOURCES / name
    spec = (PACKAGING / "edgeslim.spec").read_text()
    assert "datas = cfg.resource_datas()" in spec and "datas=datas" in spec


def _resource_folders_read_by_code() -> set[str]:
    pattern = re.compile(r"RESOURCES_DIR\s*/\s*[\"'](\w+)[\"']")
    found = set()
    for package in ("core", "gui"):
        for path in (ROOT / package).rglob("*.py"):
            found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_folders_the_code_reads_are_shipped_and_screenshots_are_not_needed():
    read = _resource_folders_read_by_code()
    assert {"demo", "icons", "recipes", "targets"} <= read  # the pattern still finds the app's reads
    assert read <= set(cfg.SHIPPED_RESOURCES), f"the app reads resources/{sorted(read - set(cfg.SHIPPED_RESOURCES))}"
    assert not read & set(cfg.NOT_SHIPPED_RESOURCES)


def test_demo_files_exist():
    assert (cfg.RESOURCES / "demo" / "demo_resnet.pt").is_file()
    assert (cfg.RESOURCES / "demo" / "demo_resnet.json").is_file()


# --------------------------------------------------------------------------- icons and the desktop entry


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_app_icon_has_svg_and_every_png_size():
    icons = cfg.RESOURCES / "icons"
    assert (icons / "app.svg").is_file()
    for size in cfg.ICON_SIZES:
        assert _png_size(icons / f"app-{size}.png") == (size, size)


def test_install_script_installs_the_rendered_sizes():
    text = (PACKAGING / "install-desktop-entry.sh").read_text()
    match = re.search(r"^sizes=\(([\d ]+)\)", text, re.M)
    assert match and tuple(int(n) for n in match.group(1).split()) == cfg.ICON_SIZES


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(cfg.DESKTOP_FILE.read_text(encoding="utf-8"))
    assert parser.sections()[0] == "Desktop Entry"
    return parser["Desktop Entry"]


def test_desktop_entry_has_the_required_keys():
    entry = _desktop_entry()
    for key in ("Name", "Exec", "Icon", "Type", "Categories"):
        assert entry.get(key, "").strip(), f"{key} missing"
    assert entry["Type"] == "Application"
    assert entry["Name"] == "EdgeSlim"
    assert entry["Exec"].split()[0] == cfg.APP_NAME  # the executable the spec builds
    assert "%" not in entry["Exec"]  # the app takes no file arguments
    assert entry["Icon"] == "edgeslim"  # the name install-desktop-entry.sh installs the icons under
    categories = entry["Categories"]
    assert categories.endswith(";") and all(categories.split(";")[:-1])
    assert entry.get("Terminal") == "false"


def test_desktop_entry_passes_desktop_file_validate():
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate not installed (Debian: desktop-file-utils)")
    proc = subprocess.run([tool, str(cfg.DESKTOP_FILE)], capture_output=True, text=True, timeout=30)
    errors = [line for line in proc.stdout.splitlines() if "error:" in line]
    assert proc.returncode == 0 and not errors, proc.stdout


# --------------------------------------------------------------------------- entry points and scripts


def test_entry_calls_freeze_support_before_anything_else():
    """Without it the worker child, started with spawn, would run the app again (a second window)."""
    tree = ast.parse(cfg.ENTRY_SCRIPT.read_text())
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    first = main.body[0]
    assert isinstance(first, ast.Expr) and ast.unparse(first.value) == "multiprocessing.freeze_support()"
    top_level_imports = {a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    top_level_from = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)}
    assert top_level_imports <= {"multiprocessing", "os", "sys"} and top_level_from <= {"__future__"}


def test_entry_dispatches_the_cli_link_that_build_sh_makes():
    entry = cfg.ENTRY_SCRIPT.read_text()
    assert f'CLI_NAME = "{cfg.CLI_NAME}"' in entry
    assert f'ln -s {cfg.APP_NAME} "$DIST/{cfg.CLI_NAME}"' in (PACKAGING / "build.sh").read_text()


def test_spec_builds_from_the_entry_scripts_and_config():
    spec = (PACKAGING / "edgeslim.spec").read_text()
    for needle in ("cfg.ENTRY_SCRIPT", "cfg.COLLECT_SUBMODULES", "cfg.EXCLUDED_MODULES",
                   "cfg.SOURCE_ALONGSIDE", "cfg.SHALLOW_SUBMODULES", "copy_metadata(cfg.METADATA_OF", "name=cfg.APP_NAME",
                   "cfg.TORCHVISION_CPU_HOOK", "runtime_hooks=RUNTIME_HOOKS"):
        assert needle in spec, needle
    compile(spec, "edgeslim.spec", "exec")
    compile(cfg.TORCHVISION_CPU_HOOK.read_text(), cfg.TORCHVISION_CPU_HOOK.name, "exec")


def test_modules_that_read_their_own_files_ship_as_source():
    """core/export/bundle.py copies infer_script.py from beside itself: PYZ bytecode alone would lack it."""
    users = [p for p in (ROOT / "core").rglob("*.py") if "__file__" in p.read_text(encoding="utf-8")]
    users = [p for p in users if p.name != "paths.py"]  # paths.py reads the resources package's __file__
    assert users and "core" in cfg.SOURCE_ALONGSIDE


def test_bundled_packages_exist_here():
    """A typo in a hidden-import list would only show when the frozen app fails to find the module."""
    for name in {n.split(".")[0] for n in (*cfg.COLLECT_SUBMODULES, *cfg.SHALLOW_SUBMODULES, *cfg.SOURCE_ALONGSIDE, *cfg.EXTRA_DATA_PACKAGES)}:
        assert importlib.util.find_spec(name) is not None, name


def test_test_suites_are_recognised():
    assert cfg.is_test_path("scipy/stats/tests/data/x.npz")
    assert cfg.is_test_path("onnx/backend/test/data/node/model.onnx")
    assert not cfg.is_test_path("torch/testing/_comparison.py")
    assert cfg.is_test_module("sklearn.utils.tests.test_x") and not cfg.is_test_module("torch.testing")


def test_build_script_is_strict_and_has_help():
    script = PACKAGING / "build.sh"
    assert "set -euo pipefail" in script.read_text()
    assert subprocess.run(["bash", "-n", str(script)], timeout=30).returncode == 0
    proc = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "Usage: bash packaging/build.sh" in proc.stdout


def test_pytest_collects_this_folder():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "tests/packaging" in config["tool"]["pytest"]["ini_options"]["testpaths"]


def test_gitignore_keeps_build_outputs_out():
    lines = set((ROOT / ".gitignore").read_text().split())
    assert {"build/", "dist/"} <= lines
