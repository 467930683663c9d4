"""The whole pipeline on a fixed synthetic video: `hold-fast synth`'s drill (seed 35, nothing
given to the reconstruction but the video) through the front-end and the engine's default
schedule, timed from the video to the result folder. Its frames per second follow the trend of
everything the kernel rows do not see (the front-end, IK, refinement, export); there is no
reference implementation to run beside it, so the row has no ratio. The stage times, the peak
memory of the process and the result's metrics are in the row's ``extra``."""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from .timing import BenchRow

OBJECT, SEED = "035_power_drill", 35
# --quick: a smoke test of the same path (not a number to follow).
QUICK = {"frames": 12, "size": (128, 128), "preset": "fast"}


def run(frames: int = 48, size: tuple[int, int] = (256, 256), preset: str = "default",
        threads: int | None = None) -> list[BenchRow]:
    import torch

    from hold.pipeline import ReconstructConfig, reconstruct
    from hold.pipeline.inputs import sequence_for
    from hold.synth.generate import generate_sequence

    threads = threads or torch.get_num_threads()
    cfg = ReconstructConfig.load(None, preset=preset, threads=threads)
    cfg.report = False  # the pictures are not the pipeline's work
    with tempfile.TemporaryDirectory(prefix="hold-bench-e2e-") as tmp:
        seq_dir, out = Path(tmp) / "synth", Path(tmp) / "out"
        generate_sequence(seq_dir, object=OBJECT, frames=frames, size=size, seed=SEED, video=True)
        start = time.perf_counter()
        seq = sequence_for(seq_dir / "video.mp4", out, progress=False, log=lambda *_: None)
        front_end = time.perf_counter() - start
        summary = reconstruct(seq, out, cfg, progress=False, log=lambda *_: None, ground_truth_dir=seq_dir)
        total = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    extra = {"stages_s": {"preprocess": round(front_end, 1), **{k: round(v, 1) for k, v in summary["timings_s"].items()}},
             "metrics": {k: v for k, v in summary.get("metrics", {}).items() if k != "per_frame"},
             "peak_rss_gb": round(peak_gb, 2), "threads": threads}
    workload = (f"{OBJECT} seed {SEED}, {frames} frames {size[0]}x{size[1]} video → result, "
                f"{preset} schedule, {threads} thread(s)")
    return [BenchRow("end to end", workload, "frames", frames, total, None, extra)]
