#!/usr/bin/env bash
# Create .venv when missing, install requirements when they changed, then start the WebUI.
set -euo pipefail
cd "$(dirname "$0")"
source ./scripts/setup-venv.sh
exec .venv/bin/python webui.py "$@"
