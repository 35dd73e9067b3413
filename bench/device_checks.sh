#!/usr/bin/env bash
# The GPU figures that issues 7 and 8 wait for, in one command for a lent device machine (device tool, one `run` call
# with timeout_s=590): `bash bench/device_checks.sh`. Writes $OUT/device_checks.txt (else ./device_checks.txt).
# Each benchmark has its own limit, so that the three fit one 10-minute call even if one of them hangs:
#   alphaGAN StyleGAN2 micro_dynw at 128x128 and 256x256 (paper supp. A.1.2 setting: search.py's defaults),
#   alphaGAN_(s) on the conventional backbone at the paper's CIFAR-10 setting (anchor: ~108 s/iter on a Tesla P40).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python3}
out="${OUT:-.}/device_checks.txt"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

bench() {
    local limit=$1; shift
    echo "## $PY $* (limit ${limit} s)" | tee -a "$out"
    local start=$SECONDS
    timeout "$limit" "$PY" "$@" > "$log" 2>&1
    local rc=$?
    tail -n 3 "$log" | tee -a "$out"
    echo "exit $rc after $((SECONDS - start)) s" | tee -a "$out"
}

{
    date -u '+%Y-%m-%d %H:%M UTC'
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
} 2>&1 | tee "$out"
bench 150 bench/search_step.py --resolution=128 --iters=3 -- --mode=micro_dynw
bench 180 bench/search_step.py --resolution=256 --iters=3 -- --mode=micro_dynw
bench 220 bench/search_step.py --resolution=32 --iters=3
