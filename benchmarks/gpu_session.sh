#!/bin/bash
# Everything this project checks on a lent GPU, in one call of a few minutes (results and logs under $OUT):
#   1. gpu_check.py --compile: the CUDA path of training, resume, every sampler, img/s and the share of the peak;
#   2. figure_times.py: docs/figures.md's commands as a user types them (its "on a GPU" column);
#   3. `diffstudio train --minutes 1` on Twemoji with the defaults, `distill` to 4 steps, `sample` both: the CLI
#      on CUDA end to end, with grids to look at.
# The device machine has torch but not every dependency: platformdirs travels as a wheel in .whl/ (see
# /work/.library/device/README.md), with the Twemoji folder:
#   run(command="bash benchmarks/gpu_session.sh", carry=[".whl", "benchmarks/out/data/twemoji"], timeout_s=560)
OUT=${OUT:-/tmp/gpu_session}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 DIFFSTUDIO_RUNS_DIR=/tmp/gpu_session_runs
TWEMOJI=${TWEMOJI:-benchmarks/out/data/twemoji}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$OUT/smi.txt"
start=$(date +%s)
section() { echo "== $1 ($(( $(date +%s) - start )) s in)"; }

section gpu_check
timeout 200 python3 benchmarks/gpu_check.py --compile > "$OUT/gpu_check.log" 2>&1; echo "rc $?"
tail -40 "$OUT/gpu_check.log"; cp benchmarks/results/gpu_check.jsonl "$OUT/" 2>/dev/null

section figures
timeout 100 python3 benchmarks/figure_times.py > "$OUT/figures.log" 2>&1; echo "rc $?"; tail -12 "$OUT/figures.log"

section train
timeout 100 python3 -m diffstudio train --data "$TWEMOJI" --run t --minutes 1 > "$OUT/train.log" 2>&1; echo "rc $?"
tail -15 "$OUT/train.log"
section distill
timeout 60 python3 -m diffstudio distill --run t --steps 4 --teacher-steps 16 --updates 100 > "$OUT/distill.log" 2>&1
echo "rc $?"; tail -8 "$OUT/distill.log"
section sample
python3 -m diffstudio sample --checkpoint t --n 64 --grid "$OUT/teacher.png" 2>&1 | tail -3
python3 -m diffstudio sample --checkpoint "$DIFFSTUDIO_RUNS_DIR/t/students/steps_4.safetensors" --n 64 \
    --grid "$OUT/student4.png" 2>&1 | tail -3
python3 -m diffstudio runs show t 2>&1 | tail -25
section done
