"""The README's picture of Explore against latency measured on a board, made from real runs and real measurements.

Runs three shipped recipes on the demo into a fresh workspace, measures each run
and its baseline with ``edgeslim-cli measure`` on a "board" reached over SSH (the
test suite's asyncssh server on 127.0.0.1, standing in for a Raspberry Pi: the
figures are this machine's), then saves the Explore page plotted against that
latency. Usage: ``python tests/bench/shot_device_axis.py OUT.png [--size 1280x800]``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
RECIPES = ("int8-static.toml", "prune-finetune-int8.toml", "sparse80-finetune.toml")


def cli(*args: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"edgeslim-cli {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--size", default="1280x800")
    args = p.parse_args()
    from tests.core.devices.sshd import start_server

    with tempfile.TemporaryDirectory(prefix="edgeslim-shot-") as tmp:
        tmp_path = Path(tmp)
        env = {**os.environ, "EDGESLIM_CONFIG_DIR": str(tmp_path / "config"), "QT_QPA_PLATFORM": "offscreen"}
        ws = str(tmp_path / "ws")
        for recipe in RECIPES:
            cli("run", str(ROOT / "resources" / "recipes" / recipe), "--model", "demo", "--data", "demo",
                "--workspace", ws, "--repeats", "20", "--quiet", env=env)
            print(f"ran {recipe}", flush=True)
        server = start_server(tmp_path / "sshd")
        try:
            cli("devices", "add", "pi", "--ssh", f"{getpass.getuser()}@127.0.0.1", "--port", str(server.port),
                "--identity", str(server.client_key_path), "--target", "rpi5", "--python", sys.executable, env=env)
            for run_id in range(1, len(RECIPES) + 1):
                print(cli("measure", "--run", str(run_id), "--device", "pi", "--workspace", ws, "--baseline",
                          "--accept-host-key", "--quiet", env=env).strip().splitlines()[-1], flush=True)
        finally:
            server.stop()
        proc = subprocess.run([sys.executable, "-m", "gui.app", "--workspace", ws, "--page", "explore", "--x-axis", "device:pi",
                               "--target", "rpi5", "--screenshot", args.out, "--size", args.size], env=env, cwd=ROOT)
        return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
