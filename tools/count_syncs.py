#!/usr/bin/env python
"""Count the host-device synchronisations a training step would cause on a GPU, on the CPU
(hold/bench/syncs.py), per source line. The table in docs/ENGINE.md §8 comes from

    python tools/count_syncs.py SEQ_DIR [--warmup 20] [--steps 4]

on the tiny test sequence (tests/conftest.py: 4 frames, 96², mug, seed 3), with the tests'
small TrainConfig. Steps without refreshes are counted (the refreshes are counted apart).
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sequence")
    parser.add_argument("--warmup", type=int, default=20, help="steps before counting")
    parser.add_argument("--steps", type=int, default=4, help="steps counted")
    args = parser.parse_args()

    from hold.bench.syncs import SyncCounter, count_training_syncs
    from hold.io.sequence import load_sequence
    from hold.train import TrainConfig
    from hold.train.setup import build_scene
    from hold.train.trainer import Trainer

    cfg = TrainConfig(frames_per_step=2, rays_per_frame=128, object_grid=32,
                      hand_refresh_every=1000, occupancy_warmup=16, threads=2)
    scene, data, _ = build_scene(load_sequence(args.sequence), cfg)
    trainer = Trainer(scene, data, cfg)
    for _ in range(args.warmup):
        trainer.step()
    for label, checks in (("CPU configuration (op input checks on)", True),
                          ("GPU configuration (op input checks off)", False)):
        trainer.check_op_inputs = checks
        # keep the counted steps clear of the occupancy refresh (every occupancy_every steps)
        while (trainer.step_count % cfg.occupancy_every) + args.steps > cfg.occupancy_every:
            trainer.step()
        counter = count_training_syncs(trainer, args.steps)
        print(f"{label}: {counter.total / args.steps:.2f} syncs per step "
              f"{ {k: v / args.steps for k, v in counter.by_category().items()} }")
        for category, where, n in counter.by_line():
            print(f"  {n / args.steps:6.2f}  {category:30s} {where}")
    trainer.check_op_inputs = False
    for name, refresh in (("occupancy refresh", trainer.refresh_object_occupancy),
                          ("hand refresh", trainer.scene.hand.refresh_deformation)):
        with SyncCounter() as counter:
            refresh()
        print(f"{name} (with op input checks): {counter.total} syncs")


if __name__ == "__main__":
    main()
