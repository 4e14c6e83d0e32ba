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

# JAX and PyTorch, for the runs on those Keras backends at the end and for the
# tests that start JAX or PyTorch processes (test_backends.py,
# test_distribute.py). EXTRA_BACKENDS="" skips them. PyTorch is installed only
# as the CPU build 2.13.0+cpu (a local wheel on the CI machines), never the
# multi-GB CUDA build that PyPI serves as 2.13.0.
install_backend() {
    case "$1" in
        jax) python3 -c "import jax" 2>/dev/null ||
                 python3 -m pip install --quiet --disable-pip-version-check jax ;;
        torch) python3 -c "import torch" 2>/dev/null ||
                   python3 -m pip install --quiet --disable-pip-version-check "torch==2.13.0+cpu" ;;
        *) echo "unknown backend in EXTRA_BACKENDS: $1" >&2; return 1 ;;
    esac
}
extra_backends=()
for backend in ${EXTRA_BACKENDS-jax torch}; do
    if install_backend "$backend"; then
        extra_backends+=("$backend")
    else
        echo "skipping the $backend backend: it could not be installed" >&2
    fi
done

export TF_CPP_MIN_LOG_LEVEL=2
python3 -m pytest -q -p no:cacheprovider "$@"

# The tests marked backend_independent again, on each other Keras backend.
for backend in ${extra_backends[@]+"${extra_backends[@]}"}; do
    echo "backend-independent tests on KERAS_BACKEND=$backend"
    status=0
    KERAS_BACKEND="$backend" python3 -m pytest -q -p no:cacheprovider -m backend_independent "$@" || status=$?
    # Exit status 5: none of the selected tests is marked backend_independent.
    if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
        exit "$status"
    fi
done
