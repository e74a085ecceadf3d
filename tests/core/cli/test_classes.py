"""edgeslim-cli runs classes ID: per-class accuracy of a stored run, agreeing with the figures the store holds."""

from __future__ import annotations

import argparse
import importlib
import json

import pytest

import core.cli.classes as classes
from tests.core.cli.helpers import assert_clear_error, run_cli

cli_main = importlib.import_module("core.cli.main")
RECIPE = '[[step]]\ntechnique = "prune.unstructured"\nsparsity = 0.6\n'


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """``runs classes`` in the parser whether or not main.py registers it yet."""
    build = cli_main.build_parser

    def build_with_classes() -> argparse.ArgumentParser:
        parser = build()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "classes" not in classes._runs_actions(sub).choices:
            classes.add_commands(sub)
        return parser

    monkeypatch.setattr(cli_main, "build_parser", build_with_classes)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("classes")
    (folder / "r.toml").write_text(RECIPE)
    ws = str(folder / "ws")
    code = cli_main.main(["run", str(folder / "r.toml"), "--model", "demo", "--data", "demo", "--workspace", ws,
                          "--repeats", "3", "--threads", "1", "--quiet"])
    assert code == 0
    return ws


def test_classes_json_agrees_with_the_stored_run(capsys, workspace):
    code, out, err = run_cli(capsys, "runs", "show", "1", "--workspace", workspace, "--json")
    row = json.loads(out)
    code, out, err = run_cli(capsys, "runs", "classes", "1", "--workspace", workspace, "--json", "--quiet")
    assert code == 0, err
    report = json.loads(out)
    assert report["top1_before"] == pytest.approx(row["baseline"]["accuracy"])
    assert report["top1_after"] == pytest.approx(row["final"]["accuracy"])  # one evaluation path: the same figure
    assert sum(c["correct_after"] for c in report["classes"]) / report["n"] == pytest.approx(report["top1_after"])
    assert report["top1_after"] < report["top1_before"] and report["changed"]  # 60 % of weights zeroed hurts
    for c in report["changed"]:
        assert c["before"] != c["after"]


def test_classes_table_lists_the_biggest_loss_first(capsys, workspace):
    code, out, err = run_cli(capsys, "runs", "classes", "1", "--workspace", workspace, "--quiet")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["class", "images", "before", "%", "after", "%", "Δ", "pt"]
    deltas = [float(line.split()[-1]) for line in lines[2:12]]
    assert deltas == sorted(deltas) and deltas[0] < 0
    assert "changed prediction" in out and "→" in out


def test_classes_errors_are_one_line(capsys, workspace, tmp_path):
    code, _, err = run_cli(capsys, "runs", "classes", "7", "--workspace", workspace)
    assert_clear_error(code, err, "no run 7")
    code, _, err = run_cli(capsys, "runs", "classes", "1", "--workspace", str(tmp_path / "nothing"))
    assert_clear_error(code, err, "not an EdgeSlim workspace")
