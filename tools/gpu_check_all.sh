#!/usr/bin/env bash
# Runs every implemented subproject's `make gpu-check` on a CUDA machine, one after another.
# Each subproject's JSON goes to $OUT/<name>/gpu_check.json (OUT defaults to ./gpu-check-out);
# everything printed goes to $OUT/gpu_check_all.log. Usage: tools/gpu_check_all.sh [seconds-each]
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check-out}"
EACH="${1:-150}"
LOG="$OUT/gpu_check_all.log"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{
  date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" 2>&1
} >>"$LOG"
status=0
for dir in */; do
  name="${dir%/}"
  [ -f "$name/pyproject.toml" ] || continue
  mkdir -p "$OUT/$name"
  echo "=== $name ($(date -u +%T))" >>"$LOG"
  start=$(date +%s)
  if command -v make >/dev/null; then
    (cd "$name" && OUT="$OUT/$name" timeout "$EACH" make --no-print-directory gpu-check \
      GPU_PYTHON=python3) >>"$LOG" 2>&1
  else  # bare machines may lack make: run the recipe lines with python3 for $(GPU_PYTHON)
    recipe=$(sed -n '/^gpu-check:/,/^[^\t]/p' "$name/Makefile" | grep $'^\t' | sed 's/^\t//' \
      | sed 's/\$(GPU_PYTHON)/python3/g')
    (cd "$name" && OUT="$OUT/$name" timeout "$EACH" bash -c "$recipe") >>"$LOG" 2>&1
  fi
  rc=$?
  echo "=== $name rc=$rc in $(( $(date +%s) - start )) s" >>"$LOG"
  [ "$rc" -eq 0 ] || status=1
done
exit "$status"
