#!/usr/bin/env bash
# Set up .venv (as webui.sh does) plus test tools and a browser, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
LOCK=requirements-test.lock
source ./scripts/setup-venv.sh
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "Installing Debian's chromium and chromium-driver for the browser tests"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
exec .venv/bin/python -m pytest tests "$@"
