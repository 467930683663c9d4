"""Metrics of a reconstruction after each stage: the start (the initial scene), the end of the
coarse stage, after refinement and at the end (what `hold-fast reconstruct` exported).

    python tools/stage_metrics.py SEQ RUN_OUT [--resolution 128]

SEQ must hold gt/ and be the sequence the run was made from (for a run from SEQ/video.mp4 the
front-end's RUN_OUT/sequence is rebuilt and scored through its frame_indices). Each stage's
scene is rebuilt as `reconstruct` does (same config, from RUN_OUT/summary.json or defaults),
its checkpoint loaded, exported to a temporary folder and scored with hold-fast's protocol.
Use it to see what a stage does to CD_h (does the object leave the hand?).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from hold.eval.protocol import evaluate_result
from hold.export import export_result
from hold.io.sequence import load_sequence
from hold.pipeline.reconstruct import ReconstructConfig
from hold.train.checkpoint import load_checkpoint
from hold.train.setup import build_scene
from hold.train.trainer import Trainer

STAGES = (("start", None), ("coarse", "coarse.ckpt"), ("refined", "refined.ckpt"), ("final", "final.ckpt"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seq")
    parser.add_argument("run")
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes resolution")
    args = parser.parse_args()
    run = Path(args.run)
    frontend = run / "sequence"
    seq_dir = frontend if (frontend / "meta.json").is_file() else Path(args.seq)
    cfg = ReconstructConfig()
    seq = load_sequence(seq_dir)
    rows = {}
    for name, ckpt in STAGES:
        if ckpt is not None and not (run / ".work" / ckpt).is_file():
            continue
        scene, data, _ = build_scene(seq, cfg.coarse, cfg.hand, cfg.mano_dir)
        if ckpt is not None:
            load_checkpoint(run / ".work" / ckpt, Trainer(scene, data, cfg.coarse))
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result"
            export_result(scene, out, {}, {}, mesh_resolution=args.resolution)
            if seq_dir == frontend:
                shutil.copytree(frontend, out / "sequence", ignore=shutil.ignore_patterns("images", "masks"))
            metrics = evaluate_result(out, args.seq, write=False)
        rows[name] = {k: round(metrics[k], 3) for k in ("mpjpe_mm", "cd_cm2", "f10_percent", "cd_h_cm2")}
        print(name, json.dumps(rows[name]), flush=True)


if __name__ == "__main__":
    main()
