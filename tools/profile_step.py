#!/usr/bin/env python
"""Profile engine I's training step on a sequence folder: samples per ray per node after
culling, samples/s of the whole step, and where the time goes (encoding, MLPs, skinning,
marching, compositing, the rest of torch, Python). The numbers in docs/ENGINE.md come from

    python tools/profile_step.py SEQ_DIR [--warmup 300] [--steps 40] [--threads 2]
                                 [--rays-per-frame 256 | --samples-per-step 66000]

The warm-up lets the occupancy grids cull as they do for most of a run.
"""

from __future__ import annotations

import argparse
import time

import torch

# Self-CPU time of profiler events by category (first match wins; the rest is "other torch").
CATEGORIES = (
    ("hash-grid encoding", ("hold::hashgrid",)),
    ("skinning", ("hold::lbs", "hold::skin", "hold::inverse_skin")),
    ("marching + occupancy", ("hold::march", "hold::occgrid")),
    ("compositing + merge", ("hold::composite", "hold::merge")),
    ("MLPs (matmuls)", ("aten::addmm", "aten::mm", "aten::bmm", "aten::matmul", "aten::linear")),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sequence")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rays-per-frame", type=int, default=None,
                        help="override TrainConfig.rays_per_frame (4 frames per step)")
    parser.add_argument("--samples-per-step", type=int, default=None,
                        help="adapt the rays to this many samples per step (as reconstruct does)")
    args = parser.parse_args()

    import hold.train.trainer as trainer_module
    from hold.io.sequence import load_sequence
    from hold.train.config import TrainConfig
    from hold.train.setup import build_scene
    from hold.train.trainer import Trainer

    torch.set_num_threads(args.threads)
    overrides = {"rays_per_frame": args.rays_per_frame,
                 "samples_per_step": args.samples_per_step}
    cfg = TrainConfig(threads=args.threads,
                      **{k: v for k, v in overrides.items() if v is not None})
    scene, data, _ = build_scene(load_sequence(args.sequence), cfg)
    trainer = Trainer(scene, data, cfg)
    for _ in range(args.warmup):
        trainer.step()

    counts: dict[str, int] = {}
    original = trainer_module.render

    def counting_render(scene, origins, *a, **k):  # rays, and each node's samples after culling
        out = original(scene, origins, *a, **k)
        counts["rays"] = counts.get("rays", 0) + origins.shape[0]
        for node, n in out.counts.items():
            counts[node] = counts.get(node, 0) + int(n)
        return out

    trainer_module.render = counting_render
    start, samples = time.perf_counter(), 0
    for _ in range(args.steps):
        samples += trainer.step()["samples"]
    seconds = time.perf_counter() - start
    trainer_module.render = original

    with torch.profiler.profile() as prof:
        profiled_start = time.perf_counter()
        for _ in range(args.steps):
            trainer.step()
        wall_profiled = time.perf_counter() - profiled_start
    events = prof.key_averages()
    total_us = sum(e.self_cpu_time_total for e in events)
    split = {name: 0.0 for name, _ in CATEGORIES}
    split["other torch ops"] = 0.0
    others = []
    for e in events:
        for name, prefixes in CATEGORIES:
            if e.key.startswith(prefixes):
                split[name] += e.self_cpu_time_total
                break
        else:
            split["other torch ops"] += e.self_cpu_time_total
            others.append((e.self_cpu_time_total, e.key))
    profiled_s = total_us / 1e6  # time inside torch ops; the rest of the profiled wall time is Python
    per_step_ms = seconds / args.steps * 1000

    print(f"sequence {args.sequence}, {args.threads} threads, after {args.warmup} warm-up steps")
    rays = counts.pop("rays")
    print(f"step {per_step_ms:.1f} ms, {rays / args.steps:.0f} rays/step, {samples / args.steps:.0f} samples/step, "
          f"{samples / seconds / 1e3:.0f} k samples/s (hand + object)")
    for node, n in sorted(counts.items()):
        print(f"  {node:10s} {n / rays:6.2f} samples/ray after culling")
    # The hand's deformation cache is rebuilt every cfg.hand_refresh_every steps (none fell in
    # the timed window): its cost per step, amortised, belongs to the whole step too.
    refresh_start = time.perf_counter()
    trainer.scene.hand.refresh_deformation()
    refresh_ms = (time.perf_counter() - refresh_start) * 1000
    amortised = refresh_ms / cfg.hand_refresh_every
    print(f"hand refresh {refresh_ms:.0f} ms every {cfg.hand_refresh_every} steps = "
          f"{amortised:.1f} ms/step amortised: {samples / args.steps / (per_step_ms + amortised):.0f} "
          f"k samples/s with it")
    print("time split (self CPU time of the ops; Python = wall time not inside any op):")
    for name, us in split.items():
        print(f"  {name:22s} {100 * us / 1e6 / wall_profiled:5.1f} %")
    print(f"  {'Python + framework':22s} {100 * max(wall_profiled - profiled_s, 0) / wall_profiled:5.1f} %")
    print("largest of the other torch ops:")
    for us, key in sorted(others, reverse=True)[:8]:
        print(f"  {key:40s} {100 * us / 1e6 / wall_profiled:5.1f} %")


if __name__ == "__main__":
    main()
