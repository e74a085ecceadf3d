"""The bad-input campaign (issue 15) as a table: each row is a hostile or unlucky input to ``edgeslim-cli``.

A row names the command line (``{tmp}`` is the row's own folder), what to put on
disk first, the exit status and a fragment of the one-line error it must give,
and optionally a check that nothing was lost. Adding a case is adding a row.
Every row is driven through :func:`core.cli.main` as a user would run it, so a
new failure shows up as a failing row, not as a report read later.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest

from core.cli import main
from tests.robustness.inputs import (BOM_RECIPE, DEEP_RECIPE, NAN_RECIPE, PROFILE, bad_model_file, huge_grid,
                                     image_folder, odd_image, random_bytes, raw_pickle, state_dict, write_text)

RECIPE = '[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.3\n'
QUANT = '[[step]]\ntechnique = "quantize.dynamic"\n'


# --------------------------------------------------------------------------- what rows put on disk


def write(rel: str, text: str = "x") -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    return setup


def earlier_result(rel: str) -> Callable[[Path], None]:
    """A folder as ``run --out`` leaves it: result.json, a model and a step folder."""

    def setup(tmp: Path) -> None:
        folder = tmp / rel
        (folder / "steps" / "01-old").mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps({"status": "done", "recipe": {"steps": []}}))
        (folder / "model.pt2").write_bytes(b"old")

    return setup


def earlier_bundle(rel: str, extra: dict[str, str]) -> Callable[[Path], None]:
    """A folder as ``export`` leaves it (its card), plus the user's own files."""

    def setup(tmp: Path) -> None:
        folder = tmp / rel
        folder.mkdir(parents=True)
        card = {"bundle": "edgeslim-bundle/1", "files": [{"path": "model.onnx"}]}
        (folder / "model.json").write_text(json.dumps(card))
        (folder / "model.onnx").write_bytes(b"onnx")
        for name, text in extra.items():
            (folder / name).write_text(text)

    return setup


def lost_database(size_zero: bool) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / "ws" / "artifacts" / "run-1").mkdir(parents=True)
        (tmp / "ws" / "artifacts" / "run-1" / "model.onnx").write_bytes(b"kept")
        if size_zero:
            (tmp / "ws" / "edgeslim.sqlite").write_bytes(b"")

    return setup


def _workspace_run(tmp: Path, status: str, model_spec: str = "demo", load_options: Optional[dict] = None,
                   sha: Optional[str] = None, pid: Optional[int] = None) -> int:
    from core.store.workspace import Workspace

    with Workspace(tmp / "ws") as ws:
        run_id = ws.create_run(name="r", recipe_name="r", recipe_toml=RECIPE, techniques=["prune.unstructured"],
                               model_spec=model_spec, data_spec="demo", load_options=load_options or {}, options={},
                               trial_key="k", model_sha256=sha)
        ws.start_run(run_id)
        if status != "running":
            ws.finish_run(run_id, status, error="stopped")
        elif pid is not None:
            ws._write("UPDATE runs SET pid = ?, host = ? WHERE id = ?", (pid, socket.gethostname(), run_id))
    return run_id


def done_run_without_files(tmp: Path) -> None:
    """A finished run whose artifacts/run-1 folder was deleted by hand."""
    from core.store.workspace import Workspace

    run_id = _workspace_run(tmp, "running")
    with Workspace(tmp / "ws") as ws:
        files = {"onnx": str(ws.run_dir(run_id) / "model.onnx"), "result": str(ws.run_dir(run_id) / "result.json")}
        ws.finish_run(run_id, "done", {"baseline": {"accuracy": 0.9}, "final": {"accuracy": 0.9}, "artifacts": files, "seconds": 1})


def done_run_with_files(tmp: Path) -> None:
    from core.store.workspace import Workspace

    with Workspace(tmp / "ws") as ws:
        run_id = ws.create_run(name="r", recipe_name="r", recipe_toml=RECIPE, techniques=[], model_spec="demo",
                               data_spec="demo", load_options={}, options={}, trial_key="k")
        files = {"onnx": str(ws.run_dir(run_id) / "model.onnx"), "result": str(ws.run_dir(run_id) / "result.json")}
        ws.start_run(run_id)
        ws.finish_run(run_id, "done", {"artifacts": files, "seconds": 1})
        ws.run_dir(run_id).mkdir()
        for path in files.values():
            Path(path).write_text("x")


def running_run(tmp: Path) -> None:
    _workspace_run(tmp, "running")  # started by this process, which is alive


def onnx_model(rel: str) -> Callable[[Path], None]:
    """The demo model as a real fp32 ONNX file (the run would quantize it, if it ran)."""

    def setup(tmp: Path) -> None:
        from core.models import load_model
        from core.models.onnx_export import export_onnx

        model = load_model("demo")
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        export_onnx(model.module, tuple(model.input_shape), tmp / rel)
        (tmp / (rel + ".sha256")).write_text(hashlib.sha256((tmp / rel).read_bytes()).hexdigest())

    return setup


SWEEP = 'name = "g"\nrecipe = "base.toml"\n[grid]\n"prune.unstructured.sparsity" = [0.2, 0.5]\n'


def two_input_onnx(rel: str) -> Callable[[Path], None]:
    """A classifier whose graph takes an image and a second tensor."""

    def setup(tmp: Path) -> None:
        import torch

        class TwoInputs(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv = torch.nn.Conv2d(3, 4, 3)

            def forward(self, image, scale):
                return self.conv(image).mean(dim=(2, 3)) * scale

        torch.onnx.export(TwoInputs().eval(), (torch.randn(1, 3, 16, 16), torch.ones(1, 1)), str(tmp / rel),
                          input_names=["image", "scale"], output_names=["logits"], dynamo=False)

    return setup


def same_file(rel: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        assert hashlib.sha256((tmp / rel).read_bytes()).hexdigest() == (tmp / (rel + ".sha256")).read_text()

    return check


def _pickle(path: Path) -> str:
    import torch

    from core.models import load_model

    torch.save(load_model("demo").module, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Payload:
    """Unpickling this creates a marker folder: evidence that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def _evil_pickle(tmp: Path) -> None:
    """A .pt written by torch.save whose unpickling would create the marker folder."""
    import torch

    torch.save(Payload(tmp / "pwned"), tmp / "evil.pt")


def interrupted_pickle_run(replaced: bool) -> Callable[[Path], None]:
    """An interrupted run of a full-pickle model first run with --trust; optionally its file replaced since."""

    def setup(tmp: Path) -> None:
        import torch

        model = tmp / "model.pt"
        sha = _pickle(model)
        _workspace_run(tmp, "interrupted", str(model), {"trust": True}, sha)
        if replaced:
            torch.save(Payload(tmp / "pwned"), model)

    return setup


def no_marker(tmp: Path) -> None:
    assert not (tmp / "pwned").exists(), "code from the replaced pickle ran"


def unchanged(rel: str, text: str = "x") -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        assert (tmp / rel).read_text() == text

    return check


def absent(rel: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        assert not (tmp / rel).exists()

    return check


def old_result_intact(rel: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        assert (tmp / rel / "model.pt2").read_bytes() == b"old" and (tmp / rel / "steps" / "01-old").is_dir()

    return check


def database_untouched(tmp: Path) -> None:
    db = tmp / "ws" / "edgeslim.sqlite"
    assert not db.exists() or db.stat().st_size == 0
    assert (tmp / "ws" / "artifacts" / "run-1" / "model.onnx").read_bytes() == b"kept"


def run_still_stored(tmp: Path) -> None:
    conn = sqlite3.connect(tmp / "ws" / "edgeslim.sqlite")
    assert conn.execute("SELECT status FROM runs").fetchall() == [("running",)]
    conn.close()


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    """One bad input: the command line, what is on disk first, the exit status and the error's fragment."""

    name: str
    argv: tuple[str, ...]
    code: int
    fragment: str
    setup: tuple[Callable[[Path], None], ...] = ()
    after: tuple[Callable[[Path], None], ...] = ()
    more: tuple[str, ...] = field(default_factory=tuple)  # further fragments the same line must hold


RUN = ("run", "{tmp}/recipe.toml", "--data", "demo")
CASES: list = [  # Case rows; a known fault is a Case in pytest.param(..., marks=xfail(strict=True))
    # issue 15, item 1: run --out never overwrites its input or, without --force, an earlier result
    Case("run-out-holds-the-model", (*RUN, "--model", "{tmp}/d/model.onnx", "--out", "{tmp}/d", "--repeats", "2", "--quiet"), 2,
         "holds the run's input", (write("recipe.toml", QUANT), onnx_model("d/model.onnx")), (same_file("d/model.onnx"),)),
    Case("run-out-is-the-model-folder-with-force", (*RUN, "--model", "{tmp}/d/model.onnx", "--out", "{tmp}/d", "--force"), 2,
         "holds the run's input", (write("recipe.toml", QUANT), write("d/model.onnx", "fp32")), (unchanged("d/model.onnx", "fp32"),)),
    Case("run-out-inside-the-data-folder", ("run", "{tmp}/recipe.toml", "--model", "demo", "--data", "{tmp}/imgs",
                                            "--out", "{tmp}/imgs/result"), 2, "inside the input folder",
         (write("recipe.toml", RECIPE), write("imgs/a/1.png")), (absent("imgs/result"),)),
    Case("run-out-earlier-result-without-force", (*RUN, "--model", "demo", "--out", "{tmp}/o"), 2, "already holds an earlier result",
         (write("recipe.toml", RECIPE), earlier_result("o")), (old_result_intact("o"),), ("--force",)),
    Case("run-out-other-files-with-force", (*RUN, "--model", "demo", "--out", "{tmp}/o", "--force"), 2,
         "not an EdgeSlim run result", (write("recipe.toml", RECIPE), write("o/thesis.tex", "mine")), (unchanged("o/thesis.tex", "mine"),)),
    Case("run-out-with-workspace", (*RUN, "--model", "demo", "--out", "{tmp}/o", "--workspace", "{tmp}/ws"), 2,
         "--out and --workspace were both given", (write("recipe.toml", RECIPE),), (absent("o"), absent("ws"))),
    Case("run-out-is-a-file", (*RUN, "--model", "demo", "--out", "{tmp}/o"), 2, "is a file", (write("recipe.toml", RECIPE), write("o"))),
    # item 2: a lost database beside earlier runs' files is an error, not a new workspace writing into artifacts/run-1
    Case("workspace-database-0-bytes", ("runs", "list", "--workspace", "{tmp}/ws"), 2, "is empty (0 bytes)",
         (lost_database(True),), (database_untouched,), ("restore",)),
    Case("workspace-database-missing", ("runs", "list", "--workspace", "{tmp}/ws"), 2, "is missing",
         (lost_database(False),), (database_untouched,), ("1 earlier run",)),
    # item 3: export --force never deletes or overwrites the user's files in an earlier bundle
    Case("export-force-user-file-named-like-a-bundle-file", ("export", "--model", "demo", "--target", "x86-64", "--out", "{tmp}/b",
                                                            "--force"), 2, "did not write",
         (earlier_bundle("b", {"model.pt2": "my own"}),), (unchanged("b/model.pt2", "my own"),)),
    # item 4: a run that a live process is running cannot be deleted
    Case("runs-delete-a-running-run", ("runs", "delete", "1", "--workspace", "{tmp}/ws"), 2, "is running",
         (running_run,), (run_still_stored,), ("stop it",)),
    # item 5: a done run whose files are gone is named as such, and the advice given (runs resume) is one that works
    Case("export-a-done-run-whose-files-are-gone", ("export", "--run", "1", "--workspace", "{tmp}/ws", "--target", "x86-64", "--quiet",
                                                  "--out", "{tmp}/b"), 2, "files are missing", (done_run_without_files,),
         (absent("b"),), ("runs resume 1",)),
    Case("runs-resume-a-done-run-with-its-files", ("runs", "resume", "1", "--workspace", "{tmp}/ws"), 2, "run 1 is done",
         (done_run_with_files,)),
    # item 6: trust is asked for again on resume, and a replaced model file is refused before it is opened
    Case("runs-resume-pickle-without-trust", ("runs", "resume", "1", "--workspace", "{tmp}/ws"), 2, "--trust",
         (interrupted_pickle_run(False),), (no_marker,), ("full pickle",)),
    Case("runs-resume-pickle-replaced", ("runs", "resume", "1", "--trust", "--workspace", "{tmp}/ws"), 2, "changed since run 1",
         (interrupted_pickle_run(True),), (no_marker,), ("sha256",)),
    # item 7: a grid too large to run is refused from its count, before anything is built (it once filled 7.3 GB)
    Case("sweep-grid-of-1.8e10-points", ("sweep", "{tmp}/huge.toml", "--model", "demo", "--data", "demo", "--workspace", "{tmp}/ws"),
         2, "18,000,000,000 combinations", (write_text("huge.toml", huge_grid()),), (absent("ws"),), ('mode = "optuna"',)),
    # item 10: nan and inf are refused where a number is read, naming the field
    Case("recipe-ratio-nan", (*RUN, "--model", "demo", "--out", "{tmp}/o"), 2, "prune.structured: ratio = nan",
         (write_text("recipe.toml", NAN_RECIPE),), (absent("o"),), ("finite number",)),
    Case("target-bandwidth-1e-300", ("export", "--model", "demo", "--target", "{tmp}/tiny-mcu.toml", "--out", "{tmp}/b"), 2,
         "`memory.bandwidth_gbs` is 1e-300", (write_text("tiny-mcu.toml", PROFILE.format(bandwidth="1e-300")),), (absent("b"),)),
    Case("target-bandwidth-inf", ("export", "--model", "demo", "--target", "{tmp}/tiny-mcu.toml", "--out", "{tmp}/b"), 2,
         "`memory.bandwidth_gbs` is inf", (write_text("tiny-mcu.toml", PROFILE.format(bandwidth="inf")),), (absent("b"),)),
    # item 15: absurd nesting is a clear error; a UTF-8 BOM is accepted (the real mistake after it is the one named)
    Case("recipe-nested-100000-deep", (*RUN, "--model", "demo", "--out", "{tmp}/o"), 2, "nested too deeply",
         (write_text("recipe.toml", DEEP_RECIPE),), (absent("o"),)),
    Case("recipe-saved-with-a-bom", (*RUN, "--model", "demo", "--out", "{tmp}/o"), 2, "line 4: prune.structured: ratio = 7",
         (write_text("recipe.toml", BOM_RECIPE),), (absent("o"),)),
    # item 11: an output path that cannot be written is refused before any model is loaded (the model here would not load)
    Case("run-workspace-is-a-file", (*RUN, "--model", "{tmp}/missing.pt", "--workspace", "{tmp}/ws"), 2, "--workspace",
         (write("recipe.toml", RECIPE), write("ws", "mine")), (unchanged("ws", "mine"),), ("is a file",)),
    Case("run-workspace-under-a-file", (*RUN, "--model", "{tmp}/missing.pt", "--workspace", "{tmp}/f/ws"), 2, "cannot be created",
         (write("recipe.toml", RECIPE), write("f", "mine")), (unchanged("f", "mine"),), ("is a file",)),
    Case("sweep-workspace-is-a-file", ("sweep", "{tmp}/s.toml", "--model", "{tmp}/missing.pt", "--data", "demo", "--workspace",
                                       "{tmp}/ws"), 2, "--workspace", (write("base.toml", RECIPE), write_text("s.toml", SWEEP),
                                                                      write("ws", "mine")), (unchanged("ws", "mine"),), ("is a file",)),
    Case("run-out-under-a-file", (*RUN, "--model", "{tmp}/missing.pt", "--out", "{tmp}/f/o"), 2, "cannot be created",
         (write("recipe.toml", RECIPE), write("f", "mine")), (unchanged("f", "mine"),)),
    # item 13: a model with two inputs is named as such, not blamed on the preset or the input shape
    Case("onnx-model-with-two-inputs", (*RUN, "--model", "{tmp}/two.onnx", "--out", "{tmp}/o", "--quiet"), 2, "has 2 inputs (image, scale)",
         (write("recipe.toml", QUANT), two_input_onnx("two.onnx")), (absent("o"),), ("single image input",)),
]

# The campaign's inputs that already gave one clean line before issue 15: kept here so that a regression shows.
UNREADABLE = {"pt": "not a readable PyTorch file", "pt2": "not a readable torch.export program (.pt2) file",
              "onnx": "not a readable ONNX file"}
CASES += [
    Case(f"model-{kind}-{ext}", ("inspect", f"{{tmp}}/m.{ext}"), 2, "is empty (0 bytes)" if kind == "empty" else UNREADABLE[ext],
         (bad_model_file(f"m.{ext}", kind),), (), ("save or download",))
    for ext in UNREADABLE for kind in ("empty", "random", "text", "truncated")
]
EVALUATE = ("evaluate", "demo", "--data", "{tmp}/imgs", "--preset", "as-is", "--repeats", "1", "--threads", "1", "--quiet")
CASES += [
    # weights for another architecture name what is missing and unexpected, and the flag to fix it
    Case("resnet18-weights-as-mobilenet_v2", ("inspect", "{tmp}/r18.pt", "--arch", "torchvision:mobilenet_v2", "--num-classes", "10"),
         2, "do not fit the architecture", (state_dict("r18.pt", "resnet18"),), (), ("missing", "unexpected", "--arch")),
    Case("demo-weights-as-resnet18", ("inspect", "{tmp}/d.pt", "--arch", "torchvision:resnet18", "--num-classes", "10"), 2,
         "do not fit the architecture", (state_dict("d.pt", "demo"),), (), ("mis-shaped", "--arch")),
    # a full pickle is refused without --trust before it is opened: the code in it never runs
    Case("malicious-pickle-without-trust", ("inspect", "{tmp}/evil.pt"), 2, "is a full pickle", (_evil_pickle,), (no_marker,),
         ("--trust",)),
    Case("malicious-plain-pickle-without-trust", ("inspect", "{tmp}/evil.pkl.pt"), 2, "is a full pickle",
         (lambda tmp: raw_pickle("evil.pkl.pt", Payload(tmp / "pwned"))(tmp),), (no_marker,), ("--trust",)),
    # data folders that cannot be a classification set
    Case("data-folder-empty", EVALUATE, 2, "imgs/ is empty", (lambda tmp: (tmp / "imgs").mkdir(),), (), ("one sub-folder per class",)),
    Case("data-folder-one-class", EVALUATE, 2, "fewer than 2 classes", (image_folder("imgs", classes=1),)),
    Case("data-folder-missing", EVALUATE, 2, "no such dataset folder", (), (), ("check the path",)),
    Case("data-1x1-image-with-as-is", EVALUATE, 2, "come in 2 sizes", (image_folder("imgs"), odd_image("imgs/3/one.png", "1x1")),
         (), ("--image-size",)),
]
STRUCTURED = '[[step]]\ntechnique = "prune.structured"\n'
OUT = ("--model", "demo", "--out", "{tmp}/o")
CASES += [
    # recipe mistakes name the file, the line and the fix; nothing is written
    Case("recipe-technique-typo", (*RUN, *OUT), 2, "line 2: unknown technique 'prune.unstructurd'",
         (write("recipe.toml", '[[step]]\ntechnique = "prune.unstructurd"\n'),), (absent("o"),), ("did you mean 'prune.unstructured'",)),
    Case("recipe-unknown-field", (*RUN, *OUT), 2, "prune.structured has no parameter 'ratoi'",
         (write("recipe.toml", STRUCTURED + "ratoi = 0.5\n"),), (absent("o"),), ("did you mean 'ratio'", "line 3")),
    Case("recipe-ratio-half", (*RUN, *OUT), 2, "ratio = 'half' is not allowed", (write("recipe.toml", STRUCTURED + 'ratio = "half"\n'),),
         (absent("o"),), ("expected a number",)),
    Case("recipe-ratio-1.5", (*RUN, *OUT), 2, "ratio = 1.5 is not allowed", (write("recipe.toml", STRUCTURED + "ratio = 1.5\n"),),
         (absent("o"),), ("out of range from 0 to 0.95",)),
    Case("recipe-10-mb-of-garbage", (*RUN, *OUT), 2, "cannot read", (random_bytes("recipe.toml", 10 * 2**20),), (absent("o"),),
         ("save the recipe as utf-8 text",)),
    Case("recipe-empty", (*RUN, *OUT), 2, "the recipe has no enabled steps", (write("recipe.toml", ""),), (absent("o"),), ("[[step]]",)),
    Case("recipe-missing", (*RUN, *OUT), 2, "no such recipe file", (), (absent("o"),), ("resources/recipes",)),
    # names and paths that do not exist
    Case("target-unknown", ("export", "--model", "demo", "--target", "raspberry-pi-9", "--out", "{tmp}/b"), 2,
         "unknown target 'raspberry-pi-9'", (), (absent("b"),), ("edgeslim-cli targets",)),
    Case("model-missing", ("inspect", "{tmp}/nope.pt"), 2, "no such file", (), (), ("check the path",)),
    Case("run-model-missing", (*RUN, "--model", "{tmp}/nope.onnx", "--out", "{tmp}/o", "--quiet"), 2, "no such file",
         (write("recipe.toml", QUANT),), (absent("o"),), ("nope.onnx",)),
    Case("run-data-missing", ("run", "{tmp}/recipe.toml", "--model", "demo", "--data", "{tmp}/nodata", "--out", "{tmp}/o", "--quiet"), 2,
         "no such dataset folder", (write("recipe.toml", QUANT),), (absent("o"),), ("nodata",)),
]


# warnings Python shows a user by default print extra lines on stderr; pytest would otherwise swallow them
HIDDEN_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def _name(row) -> str:
    """A row's name, for a plain Case or one wrapped in ``pytest.param`` (a known fault, marked xfail)."""
    return row.values[0].name if hasattr(row, "values") else row.name


@pytest.mark.parametrize("case", CASES, ids=[_name(c) for c in CASES])
def test_bad_input_gives_one_clear_line(case: Case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for setup in case.setup:
        setup(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main([a.replace("{tmp}", str(tmp_path)) for a in case.argv])
    out, err = capsys.readouterr()
    lines = [line for line in err.strip().splitlines() if line.strip()]
    shown = [str(w.message) for w in caught if not issubclass(w.category, HIDDEN_BY_DEFAULT)]
    assert not shown, f"a user would also see these warnings on stderr: {shown}"
    assert code == case.code, err
    assert "Traceback" not in err and "internal error" not in err
    assert len(lines) == 1 and lines[0].startswith("edgeslim-cli: error: "), err
    for fragment in (case.fragment, *case.more):
        assert fragment.lower() in lines[0].lower(), lines[0]
    for check in case.after:
        check(tmp_path)


def test_the_table_names_are_unique():
    assert len({_name(c) for c in CASES}) == len(CASES)
