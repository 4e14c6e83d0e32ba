#!/usr/bin/env bash
# Check convnetjs-keras on an NVIDIA GPU with Keras' JAX or PyTorch backend,
# on a machine where JAX or PyTorch (GPU build) is installed and TensorFlow
# need not be.
#
# Usage: bash scripts/gpu_check.sh WHEEL_DIR [--backend jax|torch] [gpu_check.py options]
#
# WHEEL_DIR contains the wheels of Keras and of those of its dependencies that
# the machine lacks (on a machine with network access:
# `pip download keras -d WHEEL_DIR`). They are installed with pip
# --no-index into a temporary prefix that goes on PYTHONPATH, so the Python
# environment itself is not changed. The repository is used from source;
# convnetjs-keras itself is not installed (its package metadata requires
# TensorFlow). Without --backend, JAX is used when importable, else PyTorch.
# Other options go to scripts/gpu_check.py: --cpu-ok, --batch-sizes,
# --steps, --out (see `python3 scripts/gpu_check.py --help`).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: bash scripts/gpu_check.sh WHEEL_DIR [--backend jax|torch] [--cpu-ok] [--batch-sizes 32,256,2048] [--steps 10] [--out DIR]" >&2
    exit 2
fi
wheels="$1"
shift
if [ ! -d "$wheels" ]; then
    echo "error: wheel folder not found: $wheels" >&2
    exit 2
fi

backend=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --backend) backend="${2:-}"; shift 2 || { echo "error: --backend needs jax or torch" >&2; exit 2; } ;;
        --backend=*) backend="${1#--backend=}"; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
if [ -z "$backend" ]; then
    if "$python" -c "import jax" 2>/dev/null; then
        backend=jax
    elif "$python" -c "import torch" 2>/dev/null; then
        backend=torch
    else
        echo "error: neither jax nor torch can be imported by $python; install one (see docs/scaling.md)" >&2
        exit 2
    fi
fi
case "$backend" in
    jax | torch) ;;
    *) echo "error: --backend must be jax or torch, got '$backend'" >&2; exit 2 ;;
esac

prefix="$(mktemp -d "${TMPDIR:-/tmp}/convnetjs-keras-gpu-check.XXXXXX")"
trap 'rm -rf "$prefix"' EXIT

# --prefix (unlike --target) keeps the packages already installed, such as the
# NumPy that JAX or PyTorch was built against, and adds only what is missing.
echo "installing keras from $wheels into a temporary prefix"
"$python" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$wheels" \
    --prefix "$prefix" keras

site_paths="$("$python" - "$prefix" <<'EOF'
import sys
import sysconfig

prefix = sys.argv[1]
paths = {sysconfig.get_path(name, vars={"base": prefix, "platbase": prefix}) for name in ("purelib", "platlib")}
print(":".join(sorted(paths)))
EOF
)"

export KERAS_BACKEND="$backend"
export PYTHONPATH="$repo:$site_paths${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL=2
"$python" "$repo/scripts/gpu_check.py" --backend "$backend" ${args[@]+"${args[@]}"}
