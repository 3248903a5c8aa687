#!/usr/bin/env bash
# A lent GPU machine, end to end, within MINUTES of wall time: the CUDA tests and a GPU<->CPU
# cross-decode (each under a timeout: 2 min in all at most), then training of the quality model until the deadline,
# checkpointing every 2 minutes, and a CID22-validation figure for the weights it leaves.
#
# Here first:  python scripts/gpu_pack.py          (training subset, validation crops, wheels -> .gpu/)
# There (device tool, carry [".gpu"] and runs/ if RESUME points into it):
#   bash scripts/gpu_session.sh 11 [RESUME]
# RESUME: weights to continue (.safetensors); default weights/msinn-mid.safetensors, or lite
# grown to mid when that is absent. Knobs (environment): BATCH (64), CROP (256), LR (5e-5), COMPILE=1.
# Results in $OUT (the device tool's; runs/gpu here): checks.log, cross_decode.log, train.log,
# log.csv (crops/s per row), valid.csv, gpu_busy.csv (nvidia-smi, 1 s), mid.safetensors.
set -uo pipefail
minutes=${1:?usage: bash scripts/gpu_session.sh MINUTES [RESUME.safetensors]}
end=$(( $(date +%s) + ${minutes%.*} * 60 ))
out=${OUT:-runs/gpu}
work=$(mktemp -d)
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1

export PYTHONPATH=$PWD
imports="import compressai, constriction, pytorch_msssim, msinn"
if ! python3 -c "$imports" 2>/dev/null; then  # the GPU image lacks the first three
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/site:$PWD
  python3 -c "$imports" || { echo "the carried wheels do not import (run scripts/gpu_pack.py here and carry .gpu)"; exit 1; }
fi
have_cuda=$(python3 -c 'import torch; print(int(torch.cuda.is_available()))')
nproc=$(nproc)

# What trains: RESUME, else the shipped quality model, else lite grown to mid. The checks use the
# same weights (lite's when growing: the grown model codes exactly as lite until it trains).
resume=${2:-weights/msinn-mid.safetensors}
if [ -n "${2:-}" ] && [ ! -f "$2" ]; then echo "no weights at $2 (carry them?)"; exit 1; fi
if [ -f "$resume" ]; then weights=$resume; train_from=(--resume "$resume" --grow-to mid)
else weights=weights/msinn-lite.safetensors; train_from=(--resume "$weights" --grow-to mid); fi

# 1. Checks (each bounded): CUDA tests, then files crossing GPU <-> CPU with the quality model.
if [ "$have_cuda" = 1 ]; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 1 > "$out/gpu_busy.csv" &
  busy_pid=$!
  timeout 60 python3 -m pytest -q -p no:cacheprovider tests/test_portable_decode.py tests/test_train.py -k "gpu or train_checkpoints" > "$out/checks.log" 2>&1
  echo "pytest exit $?" >> "$out/checks.log"
  images=(assets/examples/kodim04.png assets/examples/kodim23.png)
  { timeout 30 python3 -m benchmarks.cross_decode "${images[@]}" --model "$weights" --encoder cuda --decoders cpu:$nproc cpu-default:4
    timeout 30 python3 -m benchmarks.cross_decode "${images[@]}" --model "$weights" --encoder cpu:$nproc --decoders cuda
  } > "$out/cross_decode.log" 2>&1
else
  echo "no CUDA device: checks skipped, training on the CPU" | tee "$out/checks.log"
fi

# 2. Train until the deadline, leaving 75 s for the last checkpoint, validation and copying.
train_minutes=$(python3 -c "print(max(0.5, ($end - $(date +%s) - 75) / 60))")
compile=""; [ "${COMPILE:-0}" = 1 ] && compile=--compile
python3 -m msinn train "${train_from[@]}" --out "$work" --train-dirs .gpu/train/* \
  --valid-dir .gpu/valid --valid-crop 256 --valid-every 100000 --crop "${CROP:-256}" --batch "${BATCH:-64}" \
  --lr "${LR:-5e-5}" --minutes "$train_minutes" --checkpoint-minutes 2 --log-every 50 $compile > "$out/train.log" 2>&1
echo "train exit $?" >> "$out/train.log"
[ -n "${busy_pid:-}" ] && kill "$busy_pid" 2>/dev/null

cp "$work/log.csv" "$work/valid.csv" "$out/" 2>/dev/null
cp "$work/checkpoint.safetensors" "$out/mid.safetensors" 2>/dev/null  # Adam's state (checkpoint.pt) is too large to come back
tail -n 3 "$out/checks.log" "$out/train.log"; cat "$out/valid.csv" 2>/dev/null
