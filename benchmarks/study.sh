#!/usr/bin/env bash
# The study: the three quality experiments at the `study` scale, then docs/results.md and the
# experiment pages. Resumable: run it again (in the background, across sessions) and finished
# sub-runs are kept. Usage: bash benchmarks/study.sh [RUNS_DIR]   (default runs/study)
# About 2.5 hours on 2 CPU cores: baselines ~12 min and EMR-NAS ~60 min at one thread each (run
# side by side), then FedAutoMRI ~80 min (Ray, one CPU per client).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-runs/study}"
export FLWR_TELEMETRY_ENABLED=0
resume() { [ -f "$1/config.yaml" ] && echo --resume || true; }
quality() {  # EXPERIMENT OUT [extra flags]
  local experiment="$1" out="$2"; shift 2
  automri bench quality --experiment "$experiment" --scale study --out "$out" $(resume "$out") "$@"
}
mkdir -p "$RUNS"
OMP_NUM_THREADS=1 quality baselines "$RUNS/baselines" --dataset colin27 > "$RUNS/baselines.log" 2>&1 &
OMP_NUM_THREADS=1 quality emrnas "$RUNS/emrnas" --dataset colin27 > "$RUNS/emrnas.log" 2>&1 &
wait
OMP_NUM_THREADS=1 quality fedautomri "$RUNS/fedautomri" > "$RUNS/fedautomri.log" 2>&1
automri bench results --baselines "$RUNS/baselines" --emrnas "$RUNS/emrnas" --fedautomri "$RUNS/fedautomri" \
  --out docs/results.md
for pair in baselines:baselines emrnas:emrnas fedautomri:federated; do
  automri report "$RUNS/${pair%%:*}" --doc "docs/${pair##*:}.md"
done
