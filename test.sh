#!/usr/bin/env bash
# Set up .venv (as webui.sh does) plus test tools and a browser, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
LOCK=requirements-test.lock
source ./scripts/setup-venv.sh
# The fonts give the browser tests' screenshots CJK and emoji glyphs (the page names them in its font stack).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] \
   || [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then
  echo "Installing Debian's chromium, chromium-driver and CJK/emoji fonts for the browser tests"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver \
    fonts-noto-color-emoji fonts-wqy-microhei >/dev/null
fi
exec .venv/bin/python -m pytest tests "$@"
