#!/usr/bin/env bash
# Install the test dependencies (Python, npm, Debian) and run the whole suite.
# Used by the README's test command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
npm ci --no-audit --no-fund --loglevel=error

# Headless Chromium for tests/test_browser.py, which skips when it is missing.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium for the browser test (apt-get)"
    if ! { apt-get update -qq >/dev/null &&
           DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
        echo "chromium could not be installed; tests/test_browser.py will be skipped" >&2
    fi
fi

export TF_CPP_MIN_LOG_LEVEL=2
python3 -m pytest -q -p no:cacheprovider "$@"
