#!/usr/bin/env bash
# Mask a large RecordIO dataset (e.g. MS1MV2, 5.8M records) with a SLURM job array.
#
# Run it from a login node:   INPUT=/data/ms1mv2/train.rec OUTDIR=/scratch/$USER/ms1mv2_masked \
#                             SHARDS=8 bash examples/slurm_augment.sh
# It submits itself as an array of SHARDS tasks (one shard each) and a merge job that starts
# once every task has succeeded. INPUT and OUTDIR must be on a file system all nodes see.
#
# Each task finds its shard in SLURM_ARRAY_TASK_ID / _MIN / _COUNT (no --shard needed), masks
# its slice of the chunks with every core it was given, and leaves parts in
# OUTDIR/.maskgen-parts. --resume makes a requeued or re-submitted task keep the chunks it had
# finished. The merged twin is byte-identical to a single-machine run with the same seed.
#SBATCH --job-name=maskgen-augment
#SBATCH --cpus-per-task=32
#SBATCH --mem-per-cpu=1G
#SBATCH --time=01:00:00
#SBATCH --requeue
#SBATCH --output=maskgen-augment-%A_%a.out
set -euo pipefail

INPUT=${INPUT:?set INPUT to the .rec (or .bin, or image folder) to mask}
OUTDIR=${OUTDIR:?set OUTDIR to the output folder}
SHARDS=${SHARDS:-8}
SEED=${SEED:-0}

if [[ -z "${SLURM_ARRAY_TASK_ID:-}" ]]; then
    # On the login node: submit the array, then the merge that waits for all of it.
    array_job=$(sbatch --parsable --array="0-$((SHARDS - 1))" \
        --export=ALL,INPUT="$INPUT",OUTDIR="$OUTDIR",SEED="$SEED" "$0")
    sbatch --dependency="afterok:${array_job}" --job-name=maskgen-merge \
        --cpus-per-task=1 --time=00:30:00 --output="maskgen-merge-%j.out" \
        --wrap="maskgen merge '$OUTDIR'"
    echo "submitted array job ${array_job} (${SHARDS} shards) and its merge job"
    exit 0
fi

# In an array task: one shard, all allocated cores, no progress bar in the log.
maskgen augment "$INPUT" -o "$OUTDIR" --seed "$SEED" \
    --workers "${SLURM_CPUS_PER_TASK:-1}" --resume --quiet
