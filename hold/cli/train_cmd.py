"""`hold-fast train SEQ --out OUT [--config FILE]`: engine I alone on a sequence folder (a
development command; `hold-fast reconstruct` runs the whole schedule)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train the hash-grid model on a sequence folder (dev)",
                       description=__doc__)
    p.add_argument("seq", help="sequence folder (docs/SEQUENCE_FORMAT.md)")
    p.add_argument("--out", required=True, help="result folder to write")
    p.add_argument("--config", help="YAML/JSON file of TrainConfig options")
    p.add_argument("--steps", type=int, help="override the number of steps")
    p.add_argument("--threads", type=int, help="CPU threads")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--resume", action="store_true", help="continue from OUT/.work/train.ckpt")
    p.add_argument("--hand", default="builtin", choices=["builtin", "mano"], help="hand model")
    p.add_argument("--mano-dir", help="folder with MANO_RIGHT.pkl (or $HOLD_MANO_DIR)")
    p.set_defaults(run=run)


def run(args) -> int:
    from hold.train import TrainConfig, train_sequence

    cfg = TrainConfig.load(args.config, steps=args.steps, threads=args.threads, seed=args.seed)
    summary = train_sequence(args.seq, args.out, cfg, hand_kind=args.hand,
                             mano_dir=args.mano_dir, resume=args.resume)
    t = summary["timings_s"]
    print(f"trained {summary['steps']} steps in {t['train']:.0f} s "
          f"({summary['samples_per_s'] / 1e3:.0f} k samples/s); result in {args.out}")
    return 0
