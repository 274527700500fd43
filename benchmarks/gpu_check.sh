#!/usr/bin/env bash
# GPU check: the Cora GCond runs of benchmarks/specs/graph-cora.toml, Cora runs with the real graph kept on the CPU,
# the ml-100k Distill-CF run of specs/recsys.toml and
# the MNIST DM IPC10 run of specs/images-mnist.toml (the published schedule, benchmarks/presets/dm-published.toml:
# 20,000 iterations, 256 real images per class; IMAGES_ITERATIONS overrides the count) on --device cuda,
# printing wall times; then the same DM run with --nproc over every visible GPU (one process per GPU, NCCL), its
# classes split over them (GPUS overrides the count).
#
#   bash benchmarks/gpu_check.sh DATA_ROOT [OUT_DIR]
#
# DATA_ROOT holds planetoid/Cora/raw, recsys/ml-100k-fixed and images/MNIST/raw (a device machine does not see ../shared: copy that folder into
# the repository under an ignored path and pass it). Prints one JSON line per run and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${1:?usage: gpu_check.sh DATA_ROOT [OUT_DIR]}
OUT_DIR=${2:-${OUT:-$(mktemp -d)}}
python -m pip install -q --no-deps -e . >/dev/null
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('device:', torch.cuda.get_device_name(0), 'torch', torch.__version__)"
export PYTHONUNBUFFERED=1
for budget in 35 70 140; do
  start=$(date +%s.%N)
  graphdistill condense graph --dataset cora --data-root "$DATA_ROOT" --method gcond --budget "$budget" --seed 0 \
    --out "$OUT_DIR/cora-gcond-$budget" --device cuda --quiet --overwrite
  end=$(date +%s.%N)
  echo "gcond cora $budget nodes on cuda: $(python -c "print(round($end - $start, 1))") s wall (process, incl. start-up)"
  graphdistill evaluate graph --dataset cora --data-root "$DATA_ROOT" --condensed "$OUT_DIR/cora-gcond-$budget" \
    --runs 5 --device cuda --quiet --json | tail -n 1
done
# the real graph kept on the CPU under --device cuda (--real-data cpu): SGC real side moved once, neighbour-sampled
# GCN batches moved per step, a coreset and the evaluation where the graph is
for method in gcond-x doscond herding; do
  extra=""; [ "$method" = doscond ] && extra="--set matching_model=\"gcn\" --set real_batch=16 --set epochs=20"
  graphdistill condense graph --dataset cora --data-root "$DATA_ROOT" --method "$method" --budget 70 --seed 0 $extra \
    --out "$OUT_DIR/cora-$method-70-real-on-cpu" --device cuda --real-data cpu --quiet --overwrite
  graphdistill evaluate graph --dataset cora --data-root "$DATA_ROOT" --condensed "$OUT_DIR/cora-$method-70-real-on-cpu" \
    --runs 2 --device cuda --real-data cpu --quiet --json | tail -n 1
done
start=$(date +%s.%N)
graphdistill condense recsys --dataset ml-100k-fixed --data-root "$DATA_ROOT" --method distill-cf --users 50 --seed 0 \
  --out "$OUT_DIR/ml100k-distill-cf-50" --device cuda --quiet --overwrite
end=$(date +%s.%N)
echo "distill-cf ml-100k-fixed 50 users on cuda: $(python -c "print(round($end - $start, 1))") s wall (process, incl. start-up)"
graphdistill evaluate recsys --dataset ml-100k-fixed --data-root "$DATA_ROOT" --condensed "$OUT_DIR/ml100k-distill-cf-50" \
  --device cuda --quiet --json | tail -n 1
start=$(date +%s.%N)
graphdistill condense images --dataset mnist --data-root "$DATA_ROOT" --method dm --ipc 10 --seed 0 \
  --config benchmarks/presets/dm-published.toml ${IMAGES_ITERATIONS:+--iterations "$IMAGES_ITERATIONS"} --out "$OUT_DIR/mnist-dm-10" --device cuda --quiet --overwrite
end=$(date +%s.%N)
echo "dm mnist ipc10 on cuda: $(python -c "print(round($end - $start, 1))") s wall (process, incl. start-up)"
graphdistill evaluate images --dataset mnist --data-root "$DATA_ROOT" --condensed "$OUT_DIR/mnist-dm-10" \
  --runs 5 --device cuda --quiet --json | tail -n 1
GPUS=${GPUS:-$(python -c "import torch; print(torch.cuda.device_count())")}
start=$(date +%s.%N)
graphdistill condense images --dataset mnist --data-root "$DATA_ROOT" --method dm --ipc 10 --seed 0 \
  --config benchmarks/presets/dm-published.toml ${IMAGES_ITERATIONS:+--iterations "$IMAGES_ITERATIONS"} --out "$OUT_DIR/mnist-dm-10-nproc$GPUS" \
  --device cuda --nproc "$GPUS" --quiet --overwrite
end=$(date +%s.%N)
echo "dm mnist ipc10 on $GPUS GPU process(es) (--nproc $GPUS, nccl): $(python -c "print(round($end - $start, 1))") s wall (incl. start-up)"
graphdistill evaluate images --dataset mnist --data-root "$DATA_ROOT" --condensed "$OUT_DIR/mnist-dm-10-nproc$GPUS" \
  --runs 5 --device cuda --quiet --json | tail -n 1
python - "$OUT_DIR" <<'PY'
import json, pathlib, sys
for meta in sorted(pathlib.Path(sys.argv[1]).glob("*/meta.json")):
    m = json.loads(meta.read_text())
    print(f"{meta.parent.name}: condense {m['wall_s']:.1f} s, peak GPU {m['peak_device_mib']:.0f} MiB, "
          f"peak RSS {m['peak_rss_mib']:.0f} MiB, {m['environment'].get('device_name')}")
PY
