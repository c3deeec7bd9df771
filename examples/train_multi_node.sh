#!/usr/bin/env bash
# Multi-Task ArcFace on several machines: run this same script on every node. torchrun's c10d
# rendezvous on MASTER_ADDR:MASTER_PORT (any one of the nodes) assigns the ranks; NCCL carries the
# gradients. DATA, MASKED and RUN must be on a file system every node sees (only rank 0 writes
# RUN; every rank reads DATA).
#
#   # on each of the 4 nodes:
#   NNODES=4 MASTER_ADDR=node01 JOB_ID=mtarcface-r100 \
#   DATA=/shared/ms1mv2/train.rec MASKED=/shared/ms1mv2_masked/train.rec RUN=/shared/runs/r100 \
#   bash examples/train_multi_node.sh --network r100
#
# The total --batch-size is split over NNODES x GPUS processes and must divide by it.
# NCCL over InfiniBand needs nothing here; on plain Ethernet you may have to pick the interface
# (export NCCL_SOCKET_IFNAME=eth0). Rerunning after a failure continues RUN/last.pt.
set -euo pipefail
: "${DATA:?set DATA to the training .rec}"
: "${MASKED:?set MASKED to its masked twin .rec}"
: "${NNODES:?set NNODES to the number of machines}"
: "${MASTER_ADDR:?set MASTER_ADDR to one node's host name}"
RUN=${RUN:-runs/r50-mtarcface}
GPUS=${GPUS:-$(nvidia-smi --list-gpus | wc -l)}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RESUME=()
[[ -f "$RUN/last.pt" ]] && RESUME=(--resume)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
torchrun --nnodes "$NNODES" --nproc-per-node "$GPUS" \
    --rdzv-backend c10d --rdzv-endpoint "$MASTER_ADDR:${MASTER_PORT:-29500}" \
    --rdzv-id "${JOB_ID:-maskgen-train}" \
    -m maskgen.train \
    --config "${CONFIG:-$HERE/train_paper.toml}" \
    --data "$DATA" --masked "$MASKED" --output "$RUN" \
    --workers "${WORKERS:-8}" "${RESUME[@]}" "$@"
