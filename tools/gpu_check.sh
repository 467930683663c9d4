#!/usr/bin/env bash
# The GPU check (tools/gpu_check.py says what it runs and writes; docs/ENGINE.md §8 how to run
# it on a lent GPU). Runs under the machine's python3, the one that holds its CUDA torch.
# Exit status: 0 ok (skipped steps listed), 1 a step failed or timed out, 2 bad arguments,
# 3 no GPU (one line "no GPU: ...", nothing written).
exec "${PYTHON:-python3}" "$(dirname "$0")/gpu_check.py" "$@"
