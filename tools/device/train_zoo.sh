#!/usr/bin/env bash
# Train a paper's zoo model(s) on a machine with an NVIDIA GPU, from a fresh clone (issue 19).
#
#   OUT=/path/to/out tools/device/train_zoo.sh <paper> [--minutes M] [--models LIST]
#
# Builds the sub-project's environment (make setup-<paper>), trains that paper's zoo model(s) at paper-like
# width for M minutes in all (default 10; split evenly between the models), evaluates them on the Kodak
# images ($KODAK_DIR, all 24; N_IMAGES=n for fewer) with real files and writes under $OUT:
#   runs/<model>/logs/...   training log dirs (TensorBoard, checkpoints; a rerun resumes them)
#   zoo/<model>/            converted model (config.json, weights.npz, probclass_int.npz), measures.csv,
#                           summary.json, loss.png, train_log.csv
# Data: $TRAIN_DIR (a folder of photos) and $KODAK_DIR; both default to ../shared/data/* beside the clone.
# --models overrides the paper's default models (cpm: gpu_low,gpu_med; the others: gpu; "tiny": the CPU test).
# Adding a paper = one case entry below (its command must do the same: setup, train M minutes, evaluate).
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

paper=${1:-}
if [ "$paper" = "-h" ] || [ "$paper" = "--help" ]; then usage; exit 0; fi
if [ -z "$paper" ]; then usage >&2; exit 2; fi
shift
minutes=10
models=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) [ $# -ge 2 ] || { echo "error: --minutes needs a value" >&2; exit 2; }; minutes=$2; shift 2 ;;
    --models) [ $# -ge 2 ] || { echo "error: --models needs a value" >&2; exit 2; }; models=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: train_zoo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if ! awk -v m="$minutes" 'BEGIN { exit !(m + 0 > 0) }'; then
  echo "error: --minutes must be a positive number, got '$minutes'" >&2; exit 2
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export TRAIN_DIR=${TRAIN_DIR:-$REPO/../shared/data/train-photos}
export KODAK_DIR=${KODAK_DIR:-$REPO/../shared/data/kodak}

need_common() {
  if [ -z "${OUT:-}" ]; then echo "error: set OUT to the folder for the checkpoints and measures" >&2; exit 2; fi
  [ -d "$TRAIN_DIR" ] || { echo "error: TRAIN_DIR=$TRAIN_DIR is not a folder (photos to train on)" >&2; exit 2; }
  ls "$KODAK_DIR"/kodim*.png >/dev/null 2>&1 || {
    echo "error: KODAK_DIR=$KODAK_DIR holds no kodim*.png (python -m shared_data download kodak --out DIR)" >&2; exit 2; }
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L || true; else echo "note: no nvidia-smi: training on the CPU"; fi
}

case "$paper" in
  cpm)
    need_common
    models=${models:-gpu_low,gpu_med}
    n=$(awk -F, '{ print NF }' <<<"$models")
    per=$(awk -v m="$minutes" -v n="$n" 'BEGIN { printf "%.4f", m / n }')
    make -C "$REPO" --no-print-directory setup-cpm
    cd "$REPO/cpm_tf"
    .venv/bin/python -c 'import tensorflow as tf; print("TF", tf.__version__, "GPUs:", tf.config.list_physical_devices("GPU"))'
    .venv/bin/python zoo_train.py --models "$models" --jobs 1 --threads "$(nproc)" --minutes "$per" \
      --out "$OUT/runs" --export "$OUT/zoo" --reference_dir "" --n_images "${N_IMAGES:-24}"
    ;;
  l3c)
    need_common
    models=${models:-gpu}
    [ "$models" = "${models%%,*}" ] || { echo "error: train_zoo.sh l3c: one model at a time (gpu or tiny)" >&2; exit 2; }
    make -C "$REPO" --no-print-directory setup-l3c setup-tools
    cd "$REPO/l3c_torch"
    .venv/bin/python -c 'import torch; print("torch", torch.__version__, "CUDA:", torch.cuda.is_available())'
    .venv/bin/python zoo.py all "$models" --minutes "$minutes" --out "$OUT/runs" --dest "$OUT/zoo/$models" \
      --reference "$OUT/zoo/$models/reference.csv" --max_images "${N_IMAGES:-24}" --jobs "$(( $(nproc) > 8 ? 8 : 1 ))"
    ;;
  sga)
    need_common
    models=${models:-gpu}
    case "$models" in
      gpu) recipe='{"num_filters": 128, "batchsize": 8, "patchsize": 256, "steps": 1000000}'; its=300 ;;
      tiny) recipe='{"num_filters": 8, "batchsize": 2, "patchsize": 64, "steps": 1000000}'; its=2 ;;
      *) echo "error: train_zoo.sh sga: --models is gpu (N=128, 256 crops) or tiny (the CPU test)" >&2; exit 2 ;;
    esac
    make -C "$REPO" --no-print-directory setup-sga
    cd "$REPO/sga_tf"
    .venv/bin/python -c 'import tensorflow as tf; print("TF", tf.__version__, "GPUs:", tf.config.list_physical_devices("GPU"))'
    # the three λ train in parallel for M minutes, then export + integerize, M3 on the images, M1 (SGA) for
    # at most M more minutes on the middle λ
    TF_FORCE_GPU_ALLOW_GROWTH=true .venv/bin/python zoo.py --work "$OUT/runs" --zoo "$OUT/zoo" \
      --reference "$OUT/zoo/reference.csv" --recipe "$recipe" --threads "$(( $(nproc) > 8 ? 4 : 1 ))" \
      --minutes "$minutes" all --sga_its "$its" --sga_lambdas 0.012 --n_images "${N_IMAGES:-24}"
    ;;
  hific)
    models=${models:-gpu}
    case "$models" in
      gpu|tiny) ;;
      *) echo "error: train_zoo.sh hific: --models is gpu (the paper's widths) or tiny (the CPU test)" >&2; exit 2 ;;
    esac
    need_common
    make -C "$REPO" --no-print-directory setup-hific
    cd "$REPO/hific_torch"
    .venv/bin/python -c 'import torch; print("torch", torch.__version__, "CUDA:", torch.cuda.is_available())'
    # stage 1 for 60 % of M minutes, then the GAN stage warm-started from it; export + integerize; both
    # stages on the Kodak images with real files, JPEG at matched bpp, the two weight-free proxies
    .venv/bin/python zoo.py all "$models" --minutes "$minutes" --out "$OUT/runs" --dest "$OUT/zoo/$models" \
      --reference "$OUT/zoo/$models/reference.csv" --n_images "${N_IMAGES:-24}" --no_progress
    ;;
  irec)
    models=${models:-gpu}
    case "$models" in
      gpu|tiny) ;;
      *) echo "error: train_zoo.sh irec: --models is gpu (the paper's widths N=196, M=128) or tiny (the CPU test)" >&2
         exit 2 ;;
    esac
    need_common
    make -C "$REPO" --no-print-directory setup-irec
    cd "$REPO/irec_tf"
    .venv/bin/python -c 'import tensorflow as tf; print("TF", tf.__version__, "GPUs:", tf.config.list_physical_devices("GPU"))'
    # the lossy 2-level VAE for M minutes, export + integerize, then the Kodak images with real files (the
    # beam-search coder runs on the CPU: one process per 2 cores, at most 8), JPEG at matched bpp
    TF_FORCE_GPU_ALLOW_GROWTH=true IREC_SACRED_DIR="$OUT/runs/sacred" .venv/bin/python zoo.py all "$models" \
      --minutes "$minutes" --out "$OUT/runs" --dest "$OUT/zoo/$models" --reference "$OUT/zoo/$models/reference.csv" \
      --n_images "${N_IMAGES:-24}" --jobs "$(( $(nproc) / 2 > 8 ? 8 : ( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ) ))"
    ;;
  *)
    echo "error: train_zoo.sh: unknown paper '$paper' (one of: cpm sga l3c hific irec)" >&2
    exit 2 ;;
esac
