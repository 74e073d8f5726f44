#!/usr/bin/env bash
# Build the canvas component's frontend (frontend/canvas: Svelte + perfect-freehand) into
# modules/ui/components/canvas/templates/, which is committed: the app serves those files and needs no node.
# Run after changing the frontend:   scripts/build_canvas.sh
# Needs node >= 20 and npm; installs the exact packages of frontend/canvas/package-lock.json (npm ci) and uses
# Gradio's own custom-component builder (@gradio/preview). SKIP_NPM_CI=1 reuses an existing node_modules.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
source_dir="$repo/frontend/canvas"
python="${PYTHON:-$repo/.venv/bin/python}"
gradio_root="$("$python" -c 'import gradio, pathlib; print(pathlib.Path(gradio.__file__).parent / "templates" / "frontend")')"

cd "$source_dir"
[ "${SKIP_NPM_CI:-}" = 1 ] || npm ci --no-audit --no-fund

# @gradio/preview expects the `gradio cc` package layout (pyproject.toml, backend/, frontend/); it is made in a
# temporary folder, so the repository keeps a plain Python package and its frontend source apart.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/backend"
ln -s "$source_dir" "$work/frontend"
echo "from modules.ui.components.canvas.canvas import LayeredCanvas" > "$work/backend/webui_canvas_build.py"
cat > "$work/pyproject.toml" <<TOML
[project]
name = "webui_canvas_build"
version = "0.1.0"
keywords = ["gradio-custom-component"]
[tool.hatch.build]
artifacts = []
TOML
PYTHONPATH="$repo:$work/backend" GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 \
  node node_modules/@gradio/preview/dist/index.js --component-directory "$work" --root "$gradio_root" \
  --mode build --python-path "$python"
ls -l "$repo/modules/ui/components/canvas/templates/component"
