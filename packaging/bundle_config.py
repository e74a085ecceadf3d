"""What goes into the desktop bundle, as plain data.

``edgeslim.spec`` builds its PyInstaller Analysis from these lists, and
``tests/packaging`` checks them against the source tree without PyInstaller —
so a new folder under ``resources/`` cannot silently miss the bundle. This
module must stay importable with the standard library alone.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"

APP_NAME = "EdgeSlim"  # the folder under dist/ and the executable in it
CLI_NAME = "edgeslim-cli"  # a link to that executable beside it: the command line
DESKTOP_FILE = ROOT / "packaging" / "edgeslim.desktop"
ENTRY_SCRIPT = ROOT / "packaging" / "edgeslim_entry.py"
TORCHVISION_CPU_HOOK = ROOT / "packaging" / "rthooks" / "torchvision_cpu_ops.py"

# Folders of resources/ the app reads at run time (core.paths.RESOURCES_DIR / NAME).
SHIPPED_RESOURCES: dict[str, str] = {
    "demo": "demo model weights and card: the app opens on them offline",
    "icons": "window, page and application icons (SVG, PNG sizes)",
    "recipes": "example recipes and the Compress page's presets",
    "sweeps": "example sweep files (they name recipes by relative path)",
    "targets": "device profiles for the fit check and export",
}
# Folders of resources/ that exist for the repository only.
NOT_SHIPPED_RESOURCES: dict[str, str] = {
    "screenshots": "README pictures; the app never reads them",
}

# Packages imported lazily inside functions, or by name (importlib), that PyInstaller's
# static analysis cannot see: every submodule of these is bundled.
COLLECT_SUBMODULES: tuple[str, ...] = (
    "core",  # core.techniques registers its modules through pkgutil.iter_modules
    "gui",  # the worker child runs gui.jobs.process and core.app.worker_tasks
    "resources",
    "torch_pruning",
    "tensorly",  # backends are imported by name
    "onnx_tool",
    "onnxscript",  # the dynamo ONNX exporter's op library
    "onnx_ir",
    "onnxruntime.quantization",
    "optuna",
    "sklearn.datasets",
    "tomli_w",
)

# Packages whose own modules (not their sub-packages) are bundled: onnxruntime's
# quantization imports onnxruntime.transformers.onnx_utils, which puts its folder on
# sys.path and imports its siblings as top-level modules (``from fusion_utils import``).
SHALLOW_SUBMODULES: tuple[str, ...] = ("onnxruntime.transformers",)

# Packages whose .py files must sit beside the bytecode: they read source at run
# time. onnxscript compiles its ONNX op library from the functions' text
# (inspect.getsource); core copies core/export/infer_script.py into every export
# bundle as infer.py; torch's tracers quote model source in their messages;
# onnxruntime.transformers' siblings are imported from its folder on sys.path.
SOURCE_ALONGSIDE: tuple[str, ...] = (
    "core", "onnxscript", "onnx_ir", "torch_pruning", "torchvision", "onnxruntime.transformers",
)

# Data files that hooks do not collect: scikit-learn's digits (the demo dataset).
EXTRA_DATA_PACKAGES: dict[str, tuple[str, ...]] = {
    "sklearn.datasets": ("data/digits.csv.gz", "descr/digits.rst"),
}

# Distributions whose version is read through importlib.metadata (run records, About box).
METADATA_OF = "edgeslim"  # and, recursively, everything it requires

# Modules the app never imports; excluding them also keeps optional imports of
# other packages (pyqtgraph, optuna, torch) from dragging them in.
EXCLUDED_MODULES: tuple[str, ...] = (
    # other Qt bindings pyqtgraph would try; PyInstaller refuses to bundle two
    "PyQt5", "PyQt6", "PySide2",
    # Qt modules EdgeSlim does not use (the window is QtWidgets + QtGui + QtSvg)
    "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.QtWebEngineQuick", "PySide6.QtWebChannel",
    "PySide6.QtWebSockets", "PySide6.QtWebView",
    "PySide6.Qt3DCore", "PySide6.Qt3DRender", "PySide6.Qt3DInput", "PySide6.Qt3DLogic", "PySide6.Qt3DExtras",
    "PySide6.Qt3DAnimation",
    "PySide6.QtQuick", "PySide6.QtQuick3D", "PySide6.QtQuickWidgets", "PySide6.QtQuickControls2", "PySide6.QtQml",
    "PySide6.QtMultimedia", "PySide6.QtMultimediaWidgets", "PySide6.QtSpatialAudio",
    "PySide6.QtPdf", "PySide6.QtPdfWidgets", "PySide6.QtCharts", "PySide6.QtDataVisualization", "PySide6.QtGraphs",
    "PySide6.QtGraphsWidgets", "PySide6.QtLocation", "PySide6.QtPositioning", "PySide6.QtBluetooth",
    "PySide6.QtNfc", "PySide6.QtSensors", "PySide6.QtSerialPort", "PySide6.QtSerialBus", "PySide6.QtRemoteObjects",
    "PySide6.QtScxml", "PySide6.QtStateMachine", "PySide6.QtTextToSpeech", "PySide6.QtHttpServer",
    "PySide6.QtDesigner", "PySide6.QtHelp", "PySide6.QtUiTools", "PySide6.QtSql", "PySide6.QtNetworkAuth",
    "PySide6.QtTest", "pyqtgraph.opengl",  # (pyqtgraph's plot items need QtOpenGL + QtOpenGLWidgets: kept)
    # GPU compilers and plotting/notebook stacks the app does not use
    "triton", "matplotlib", "plotly", "IPython", "jupyter_client", "ipykernel", "bokeh", "tkinter", "_tkinter",
    # test frameworks and tensorboard
    "pytest", "_pytest", "pytestqt", "hypothesis", "torch.utils.tensorboard", "tensorboard", "pip",
)

# Qt plugins PyInstaller collects with QtGui that a desktop widgets app does not need,
# and the Qt libraries only they pull in (bundle paths, glob): the on-screen virtual
# keyboard (for touch kiosks; it needs QtQuick and QML) and the PDF image-format plugin.
UNUSED_QT_BINARIES: tuple[str, ...] = (
    "PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
    "PySide6/Qt/plugins/imageformats/libqpdf.so",
    "PySide6/Qt/lib/libQt6VirtualKeyboard*", "PySide6/Qt/lib/libQt6Quick*", "PySide6/Qt/lib/libQt6Qml*",
    "PySide6/Qt/lib/libQt6Pdf*",
)

# Path parts that mark test suites and test data inside packages (dropped from the bundle).
TEST_DIR_NAMES: frozenset[str] = frozenset({"tests", "test"})

# Libraries of CUDA builds that are loaded on demand only (never at import): dropped
# when the bundle is built from a CUDA wheel (the CPU wheel has none of them).
CUDA_ON_DEMAND_LIBS: tuple[str, ...] = (
    "libcudnn_",  # cuDNN engines/ops/cnn/adv/graph: dlopened by libcudnn.so on the first convolution
    "libcusolver", "libcupti", "libnvrtc-builtins", "libtorch_cuda_linalg", "libnvperf", "libcheckpoint",
    "libnvblas",
)

# Bundle paths (glob) of libraries that cannot load beside the CPU build of torch:
# torchvision's wheel is built against CUDA torch (its C++ ops need libtorch_cuda.so).
# EdgeSlim uses neither torchvision's detection ops nor torchvision.io; the runtime
# hook TORCHVISION_CPU_HOOK lets torchvision import without them.
CUDA_ONLY_WITH_CPU_TORCH: tuple[str, ...] = (
    "torchvision/_C*.so", "torchvision/image*.so", "torchvision.libs/libcudart*", "torchvision.libs/libnvjpeg*",
)

ICON_SIZES: tuple[int, ...] = (16, 24, 32, 48, 64, 128, 256, 512)


def resource_datas() -> list[tuple[str, str]]:
    """(source folder, destination folder) pairs for PyInstaller's ``datas``."""
    return [(str(RESOURCES / name), f"resources/{name}") for name in SHIPPED_RESOURCES]


def resource_folders_with_files() -> set[str]:
    """Top-level folders of resources/ that hold at least one file (caches excepted)."""
    return {
        d.name
        for d in RESOURCES.iterdir()
        if d.is_dir() and d.name != "__pycache__" and any(p.is_file() for p in d.rglob("*"))
    }


def is_test_module(name: str) -> bool:
    """True for modules of a package's test suite (``scipy.stats.tests.test_x``)."""
    return any(part in TEST_DIR_NAMES for part in name.split(".")[1:])


def is_test_path(path: str) -> bool:
    """True for files inside a package's test suite (``…/tests/…``), never needed at run time."""
    parts = Path(path).parts[:-1]
    return any(part in TEST_DIR_NAMES for part in parts)
