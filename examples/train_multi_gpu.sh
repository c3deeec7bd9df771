#!/usr/bin/env bash
# Multi-Task ArcFace on one machine with several GPUs: torchrun starts one process per GPU
# (DistributedDataParallel over NCCL). The launcher form is `torchrun ... -m maskgen.train ARGS`,
# where ARGS are exactly those of `maskgen train`.
#
#   DATA=/data/ms1mv2/train.rec MASKED=/data/ms1mv2_masked/train.rec RUN=runs/r50 \
#   bash examples/train_multi_gpu.sh [more maskgen train flags]
#
# --batch-size is the total over all GPUs (the paper recipe: 512, i.e. 64 per GPU on 8), so the
# same config gives the same training on 1, 2, 4 or 8 GPUs, and a run saved on 8 GPUs resumes
# exactly on 8 (and continues, reseeding dropout, on another count that divides the batch).
# --workers is per GPU process. For millions of identities add --sharded-classifier: each GPU
# then holds 1/N of the class centres and the softmax is computed across GPUs.
# Rerunning the script continues RUN/last.pt (--resume is added when it exists).
set -euo pipefail
: "${DATA:?set DATA to the training .rec}"
: "${MASKED:?set MASKED to its masked twin .rec}"
RUN=${RUN:-runs/r50-mtarcface}
GPUS=${GPUS:-$(nvidia-smi --list-gpus | wc -l)}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RESUME=()
[[ -f "$RUN/last.pt" ]] && RESUME=(--resume)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
torchrun --standalone --nproc-per-node "$GPUS" -m maskgen.train \
    --config "${CONFIG:-$HERE/train_paper.toml}" \
    --data "$DATA" --masked "$MASKED" --output "$RUN" \
    --workers "${WORKERS:-8}" "${RESUME[@]}" "$@"
