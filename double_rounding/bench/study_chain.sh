#!/usr/bin/env bash
# The main study in priority order: the FP32 start; the primary comparison seed by seed (one-shot
# model + separate LSQ models at equal steps); then ALRS as printed / clamped and the equal-epochs
# arms for seed 0; then the same for the other seeds; then "no ALRS"; then the paired report.
# Each part is its own short process and is skipped when already cached, so re-running resumes.
# Usage: bench/study_chain.sh "0 1 2" [bench_multi.py options, e.g. --steps 100]
set -euo pipefail
SEEDS=${1:-"0 1 2"}
shift || true
PY=${PYTHON:-python}
run() { $PY bench/bench_multi.py "$@"; }
run --part fp32 "$@"
for s in $SEEDS; do
  for arm in dr_alrs_relative lsq_w8_equal_steps lsq_w6_equal_steps lsq_w4_equal_steps \
             lsq_w2_equal_steps; do
    run --part arm --arm "$arm" --seed "$s" "$@"
  done
done
secondary() {
  for arm in dr_alrs_literal dr_alrs_clamped lsq_w8_equal_epochs lsq_w6_equal_epochs \
             lsq_w4_equal_epochs lsq_w2_equal_epochs; do
    run --part arm --arm "$arm" --seed "$1" "${@:2}"
  done
}
for s in $SEEDS; do secondary "$s" "$@"; done
for s in $SEEDS; do run --part arm --arm dr_alrs_none --seed "$s" "$@"; done
run --part report "$@"
