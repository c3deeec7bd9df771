#!/usr/bin/env bash
#SBATCH --job-name=mtarcface
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=48:00:00
#SBATCH --requeue
#SBATCH --signal=B:USR1@300
#SBATCH --output=%x-%j.out
#
# Multi-Task ArcFace under SLURM: one task per node, each starting torchrun with one process per
# GPU; the first node of the allocation hosts the rendezvous.
#
#   DATA=/shared/ms1mv2/train.rec MASKED=/shared/ms1mv2_masked/train.rec RUN=/shared/runs/r50 \
#   sbatch examples/train_slurm.sh [more maskgen train flags]
#
# Preemption and time limits: the job is requeueable; when it starts again it finds
# RUN/last.pt and adds --resume, continuing exactly (weights, optimizer, schedule, data order,
# RNG). Keep --save-every small enough that little is lost (the paper config: 10000 steps).
# Change --nodes / --gpus-per-node freely: --batch-size is the total over all GPUs.
set -euo pipefail
: "${DATA:?set DATA to the training .rec}"
: "${MASKED:?set MASKED to its masked twin .rec}"
RUN=${RUN:-runs/r50-mtarcface}
CONFIG=${CONFIG:-examples/train_paper.toml}
GPUS=${SLURM_GPUS_ON_NODE:-8}
HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
WORKERS=$(( ${SLURM_CPUS_PER_TASK:-64} / GPUS ))
RESUME=()
[[ -f "$RUN/last.pt" ]] && RESUME=(--resume)
# requeue ourselves when SLURM warns that the time limit or a preemption is near
trap 'scontrol requeue "$SLURM_JOB_ID"' USR1
export OMP_NUM_THREADS=4
srun --kill-on-bad-exit=1 torchrun \
    --nnodes "$SLURM_NNODES" --nproc-per-node "$GPUS" \
    --rdzv-backend c10d --rdzv-endpoint "$HEAD:29500" --rdzv-id "$SLURM_JOB_ID" \
    -m maskgen.train --config "$CONFIG" \
    --data "$DATA" --masked "$MASKED" --output "$RUN" \
    --workers "$WORKERS" "${RESUME[@]}" "$@" &
wait
