#!/usr/bin/env bash
# Install the test dependencies (Python, npm, Debian) and run the whole suite.
# Used by the README's test command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
npm ci --no-audit --no-fund --loglevel=error

export TF_CPP_MIN_LOG_LEVEL=2
python3 -m pytest -q -p no:cacheprovider "$@"
