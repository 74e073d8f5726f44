# Sourced by webui.sh and test.sh: make .venv/ and install the pinned lock only when it changed.
# requirements.txt lists what we depend on directly (ranges); requirements*.lock pins every package that
# gets installed, so a release upstream can never move under the app or its tests. Refresh: see README.
PYTHON=${PYTHON:-python3}
LOCK=${LOCK:-requirements.lock}
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.$LOCK.sha256"
want=$(cat "$LOCK" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing $LOCK into .venv (first run takes a few minutes)"
  .venv/bin/python -m pip install --disable-pip-version-check -q -r "$LOCK"
  echo "$want" > "$stamp"
fi
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
export NO_PROXY=${NO_PROXY:+$NO_PROXY,}127.0.0.1,localhost
