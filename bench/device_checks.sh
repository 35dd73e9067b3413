#!/usr/bin/env bash
# The GPU figures that issues 7, 8 and 22 wait for, in one command for a lent device machine (device tool, one `run`
# call with timeout_s=595): `bash bench/device_checks.sh`. Writes $OUT/device_checks.txt (else ./device_checks.txt).
# Each benchmark has its own limit, so that all fit one 10-minute call even if one of them hangs:
#   StyleGAN2 256x256 paper256 G+D step beside stylegan2-ada-pytorch (issue 22), when a checkout of it is at
#     $PEER_SG2 (default .peers/stylegan2-ada-pytorch, git-ignored: `git -C <its git dir> archive HEAD | tar -x -C
#     .peers/stylegan2-ada-pytorch`, then run with carry=[".peers"]);
#   alphaGAN_(s) on the conventional backbone at the paper's CIFAR-10 setting (anchor: ~108 s/iter on a Tesla P40);
#   FID-50k wall time (50,000 vs 50,000 images, offline detector);
#   alphaGAN StyleGAN2 micro_dynw search at 128x128 (search.py's defaults, the paper's supp. A.1.2 setting).
# TINY=1 runs the same flow with tiny settings (a check of the script on CPU, not a measurement).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python3}
PEER_SG2=${PEER_SG2:-.peers/stylegan2-ada-pytorch}
out="${OUT:-.}/device_checks.txt"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

bench() {
    local limit=$1; shift
    echo "## $PY $* (limit ${limit} s)" | tee -a "$out"
    local start=$SECONDS
    timeout "$limit" "$PY" "$@" > "$log" 2>&1
    local rc=$?
    grep -v Warning "$log" | tail -n 4 | tee -a "$out"
    echo "exit $rc after $((SECONDS - start)) s" | tee -a "$out"
}

{
    date -u '+%Y-%m-%d %H:%M UTC'
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
} 2>&1 | tee "$out"

if [ "${TINY:-0}" = 1 ]; then
    sg2=(--resolution=16 --cmax=16 --batch=4 --steps=1 --reps=1)
    search32=(bench/search_step.py --resolution=32 --iters=2 -- --g-channels=8 --d-channels=8 --batch=4 --T=1 --S=1 --R=1)
    fid=(--num=16 --reps=1 --batch=8)
    dynw=(bench/search_step.py --resolution=32 --iters=2 -- --mode=micro_dynw --width-frac=0.03125 --batch=2 --T=1 --S=1 --R=1)
else
    sg2=(--resolution=256 --cbase=16384 --cmax=512 --batch=64 --map=8 --steps=3 --reps=1)
    search32=(bench/search_step.py --resolution=32 --iters=3)
    fid=(--num=50000 --reps=1 --batch=250)
    dynw=(bench/search_step.py --resolution=128 --iters=3 -- --mode=micro_dynw)
fi

if [ -f "$PEER_SG2/training/loss.py" ]; then
    bench 200 bench/train_step.py "${sg2[@]}" --peer="$PEER_SG2"
else
    echo "## StyleGAN2 step beside the peer skipped: no stylegan2-ada-pytorch checkout at $PEER_SG2" | tee -a "$out"
fi
bench 130 "${search32[@]}"
bench 150 bench/fid.py "${fid[@]}"
bench 90 "${dynw[@]}"
