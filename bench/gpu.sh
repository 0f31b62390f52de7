#!/usr/bin/env bash
# The benchmark suite on CUDA (bench/README.md): the same parts as `make bench`,
# with the dense problem at NYUv2's full 288x384, in under 8 minutes.
# Without CUDA it says so and exits 0. Extra arguments go to `python -m bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "bench/gpu.sh: no CUDA device here; skipping the GPU suite"
    exit 0
fi
# bf16 autocast is not benchmarked: the trainer has no autocast option yet.
exec timeout 470 "$PY" -m bench --device cuda --output bench/results/gpu.json "$@"
