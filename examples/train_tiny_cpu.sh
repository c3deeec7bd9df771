#!/usr/bin/env bash
# A two-minute Multi-Task ArcFace run on a 2-core CPU: the tiny network on a small RecordIO set and
# its masked twin, with LFW verification every 100 steps. Shows every output of a run:
#   RUN/metrics.jsonl (one row per --log-every steps, plus validation rows), RUN/tb (TensorBoard),
#   RUN/config.json, RUN/step_N.pt and RUN/last.pt.
#
#   DATA=../shared/data/rec/lfw-mini/train.rec MASKED=out/lfw-mini-masked/train.rec \
#   VAL=../shared/data/bin/lfw-fold1.bin bash examples/train_tiny_cpu.sh
#
# Make the twin first with: maskgen augment "$DATA" -o out/lfw-mini-masked
# Run it again with --resume (or larger --steps and --resume) to continue exactly where it stopped.
# The learning rate is train's default: a constant --lr 0.1 (what this script used to pass) left
# the mask head at ~0.88 training accuracy with a mask cross-entropy of 2-3 and 89.75 % mask usage
# on lfw-fold1's twin, against 0.98, 0.27 and 97.00 % with the default (300 steps, this VM).
set -euo pipefail
: "${DATA:?set DATA to a training .rec}"
: "${MASKED:?set MASKED to its masked twin .rec}"
RUN=${RUN:-runs/tiny-cpu}
VAL_ARGS=()
[[ -n "${VAL:-}" ]] && VAL_ARGS=(--val "$VAL" --val-every 100)
maskgen train --data "$DATA" --masked "$MASKED" --output "$RUN" \
    --network tiny --batch-size 32 --steps 300 --device cpu --workers 1 \
    --log-every 25 --save-every 100 "${VAL_ARGS[@]}" "$@"
