#!/usr/bin/env bash
# Build the EdgeSlim desktop app: a one-folder PyInstaller bundle in dist/EdgeSlim/
# (the executable EdgeSlim and its edgeslim-cli link, the demo model, target profiles, recipes,
# sweeps and icons inside), made from a fresh virtual environment under build/.
#
# Usage: bash packaging/build.sh [options]
#   --torch auto|cpu|cuda   which PyTorch build to bundle (default auto: the CPU build when
#                           pip can reach one, else the default CUDA build minus the CUDA
#                           libraries it loads only on demand)
#   --torch-index URL       an extra package index for torch, e.g. https://download.pytorch.org/whl/cpu
#   --reuse-venv            keep build/venv when it exists (faster rebuilds after code changes)
#   --no-smoke              skip the smoke test
#   --python PYTHON         interpreter for the virtual environment (default python3, 3.10+)
#   -h, --help              this help
#
# The smoke test runs the frozen app offscreen (QT_QPA_PLATFORM=offscreen) with a bare
# environment from outside the repository: three starts on the demo with --timing and
# --screenshot (median start-up time, PNGs checked not blank), then a real int8 recipe run
# in the app's spawned worker process, checked through the bundled edgeslim-cli, and an
# export with that edgeslim-cli. It ends with the bundle's size and its largest components.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TORCH_MODE=auto
TORCH_INDEX=""
REUSE_VENV=0
SMOKE=1
PYTHON=python3

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --torch) TORCH_MODE="${2:?--torch needs auto, cpu or cuda}"; shift 2 ;;
    --torch-index) TORCH_INDEX="${2:?--torch-index needs a URL}"; shift 2 ;;
    --reuse-venv) REUSE_VENV=1; shift ;;
    --no-smoke) SMOKE=0; shift ;;
    --python) PYTHON="${2:?--python needs an interpreter}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$TORCH_MODE" in auto|cpu|cuda) ;; *) echo "build.sh: --torch must be auto, cpu or cuda" >&2; exit 2 ;; esac

VENV="$ROOT/build/venv"
PY="$VENV/bin/python"
DIST="$ROOT/dist/EdgeSlim"
SMOKE_DIR="$ROOT/build/smoke"
say() { printf '\n== %s\n' "$*"; }
started=$SECONDS

# ---------------------------------------------------------------------------- environment
if [[ $REUSE_VENV -eq 0 || ! -x "$PY" ]]; then
  say "fresh virtual environment in build/venv"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  pip_extra=()
  [[ -n "$TORCH_INDEX" ]] && pip_extra=(--extra-index-url "$TORCH_INDEX")
  "$PY" -m pip install --quiet -c packaging/constraints.txt pyinstaller pyinstaller-hooks-contrib packaging
  picked="$("$PY" packaging/pick_torch.py --mode "$TORCH_MODE" -- "${pip_extra[@]}")"
  mapfile -t torch_reqs <<< "$picked"
  say "installing ${torch_reqs[*]}"
  "$PY" -m pip install --quiet "${pip_extra[@]}" "${torch_reqs[@]}"
  # the app and its dependencies, torch held at the build chosen above
  printf '%s\n' "${torch_reqs[@]}" > "$ROOT/build/torch-constraints.txt"
  "$PY" -m pip install --quiet -c packaging/constraints.txt -c "$ROOT/build/torch-constraints.txt" .
fi
# the app itself, always from this tree (the spec bundles the installed copy; --reuse-venv keeps an older one)
"$PY" -m pip install --quiet --no-deps --force-reinstall .
"$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda or "none")'

# ---------------------------------------------------------------------------- bundle
say "PyInstaller (several minutes: torch is large)"
rm -rf "$DIST"
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" packaging/edgeslim.spec
cp packaging/edgeslim.desktop packaging/install-desktop-entry.sh "$DIST/"
ln -s EdgeSlim "$DIST/edgeslim-cli"  # the same executable; started under this name it is the command line
[[ -x "$DIST/EdgeSlim" ]] || { echo "build.sh: no executable $DIST/EdgeSlim" >&2; exit 1; }
echo "built $DIST in $((SECONDS - started)) s"

# ---------------------------------------------------------------------------- smoke test
if [[ $SMOKE -eq 1 ]]; then
  say "smoke test (offscreen, bare environment, run from $SMOKE_DIR)"
  rm -rf "$SMOKE_DIR"
  mkdir -p "$SMOKE_DIR/home"
  # nothing from this shell or the repository can leak in: the bundle must stand alone
  frozen() {
    (cd "$SMOKE_DIR" && env -i HOME="$SMOKE_DIR/home" PATH=/usr/bin:/bin LANG=C.UTF-8 \
      QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR="$SMOKE_DIR/home" timeout 900 "$@")
  }
  for i in 1 2 3; do
    frozen "$DIST/EdgeSlim" --demo --page model --timing --workspace "$SMOKE_DIR/ws-start" \
      --screenshot "$SMOKE_DIR/start-$i.png" 2> "$SMOKE_DIR/start-$i.log" \
      || { cat "$SMOKE_DIR/start-$i.log" >&2; echo "build.sh: start $i failed" >&2; exit 1; }
    "$PY" packaging/smoke_checks.py screenshot "$SMOKE_DIR/start-$i.png"
  done
  "$PY" packaging/smoke_checks.py timing "$SMOKE_DIR"/start-{1,2,3}.log | tee "$SMOKE_DIR/timing.txt"

  recipe="$DIST/_internal/resources/recipes/int8-static.toml"  # the bundled copy
  frozen "$DIST/EdgeSlim" --demo --recipe "$recipe" --run --page compress --workspace "$SMOKE_DIR/ws-run" \
    --screenshot "$SMOKE_DIR/compress-run.png" 2> "$SMOKE_DIR/run.log" \
    || { cat "$SMOKE_DIR/run.log" >&2; echo "build.sh: the int8 run in the frozen app failed" >&2; exit 1; }
  "$PY" packaging/smoke_checks.py screenshot "$SMOKE_DIR/compress-run.png"
  frozen "$DIST/edgeslim-cli" runs list --workspace "$SMOKE_DIR/ws-run" --json > "$SMOKE_DIR/runs.json"
  "$PY" packaging/smoke_checks.py runs "$SMOKE_DIR/runs.json" --status done --at-least 1
  # the bundled command line: an export writes and verifies a bundle (infer.py is copied from core's source)
  frozen "$DIST/edgeslim-cli" export --model demo --target rpi5 --out "$SMOKE_DIR/export-rpi5" > "$SMOKE_DIR/export.log" 2>&1 \
    || { cat "$SMOKE_DIR/export.log" >&2; echo "build.sh: edgeslim-cli export in the bundle failed" >&2; exit 1; }
  [[ -f "$SMOKE_DIR/export-rpi5/infer.py" && -f "$SMOKE_DIR/export-rpi5/model.onnx" ]] \
    || { echo "build.sh: the exported bundle lacks infer.py or model.onnx" >&2; exit 1; }
  echo "ok: edgeslim-cli export wrote and verified a Raspberry Pi 5 bundle"
  echo "smoke test passed; screenshots in build/smoke/"
fi

say "size"
"$PY" packaging/smoke_checks.py sizes "$DIST" --top 10 | tee "$ROOT/build/bundle-size.txt"
echo
echo "done in $((SECONDS - started)) s: $DIST/EdgeSlim  (menu entry: $DIST/install-desktop-entry.sh)"
