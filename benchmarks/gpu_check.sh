#!/usr/bin/env bash
# The prepared GPU check of issue 17: one device run, under 8 minutes on one modern GPU.
#
#   bash benchmarks/gpu_check.sh            # writes docs/speed-gpu.md (and docs/emrnas-memory-gpu.md)
#
# 1. CUDA vs CPU agreement of every model's forward pass, training throughput at 256x256 for every
#    model in fp32 and bf16 (python -m automri.experiments.gpu_check);
# 2. peak memory of the binarized EMR-NAS search step vs the derived net (benchmarks/memory_rir_search.py);
# 3. with 2 or more GPUs, a 2-GPU DDP training run (torchrun --nproc_per_node 2 -m automri train).
# Without CUDA it stops at once with one line and exit status 3.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=${OUT_MD:-docs/speed-gpu.md}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" FLWR_TELEMETRY_ENABLED=0

if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: CUDA is not available (torch.cuda.is_available() is False); run this on a machine with an NVIDIA GPU and a CUDA build of torch" >&2
    exit 3
fi
start=$(date +%s)

timeout 300 "$PYTHON" -m automri.experiments.gpu_check --out "$OUT"

{
    echo "## EMR-NAS search memory on the GPU (binarized search step vs derived net)"
    echo
    echo 'Command: `python benchmarks/memory_rir_search.py --size 256 --batch 8 --device cuda --report docs/emrnas-memory-gpu.md`;'
    echo 'full table: [emrnas-memory-gpu.md](emrnas-memory-gpu.md).'
    echo
    echo '```'
    timeout 150 "$PYTHON" benchmarks/memory_rir_search.py --size 256 --batch 8 --device cuda \
        --report docs/emrnas-memory-gpu.md 2>&1 | tail -n 20 || echo "memory benchmark failed (exit $?)"
    echo '```'
    echo
    gpus=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')
    echo "## 2-GPU DDP step ($gpus GPUs present)"
    echo
    if [ "$gpus" -ge 2 ]; then
        run=$(mktemp -d)
        t0=$(date +%s)
        if timeout 120 "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node 2 -m automri train \
            --model unet --dataset phantom --size 256 --epochs 1 --steps 5 --batch-size 8 --val-slices 4 \
            --device cuda --out "$run/ddp" --json > "$run/ddp.json" 2> "$run/ddp.err"; then
            echo "torchrun --nproc_per_node 2 -m automri train --model unet --size 256 --steps 5 --batch-size 8: ok in $(( $(date +%s) - t0 )) s"
        else
            echo "DDP run failed:"; echo '```'; tail -n 15 "$run/ddp.err"; echo '```'
        fi
        rm -rf "$run"
    else
        echo "Skipped: fewer than 2 GPUs."
    fi
    echo
    echo "Total: $(( $(date +%s) - start )) s."
} >> "$OUT"
echo "gpu_check: wrote $OUT"
