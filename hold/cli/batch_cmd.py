"""`hold-fast batch INPUT... --out ROOT`: reconstruct many inputs, each into ROOT/<name>/, one
after another here or as tasks on a Ray runtime (`--ray`); results in ROOT/summary.json,
summary.csv and index.html. Exit status 0 when every input is done, 1 when any failed."""

from __future__ import annotations

import sys
from pathlib import Path

from ._device import require_cuda
from .reconstruct_cmd import add_object_shape_argument, add_preset_arguments


def add_parser(sub) -> None:
    p = sub.add_parser(
        "batch", help="reconstruct many inputs (here, or on a Ray runtime with --ray)",
        description=__doc__ + " See docs/CLUSTER.md.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video, folder of frames or sequence folder; globs and .txt files "
                        "listing them (one a line) work too")
    p.add_argument("--out", required=True, metavar="ROOT",
                   help="results go to ROOT/<name>/ (a video's stem, a folder's name)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run on Ray: local (a private runtime on this machine), auto (the "
                        "cluster this machine is part of), ray://HOST:10001 or HOST:PORT; "
                        "needs hold-fast[cluster]. Default: one after another in-process")
    p.add_argument("--config", help="YAML/JSON with sections coarse:, refine:, final: (as for "
                                    "reconstruct)")
    p.add_argument("--threads", type=int,
                   help="CPU threads of each task, and the CPUs each Ray task asks for "
                        "(default 2)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="where to train; with --ray, cuda asks one GPU per task")
    p.add_argument("--retries", type=int, default=2, metavar="K",
                   help="with --ray: re-run a task whose worker died up to K times; it resumes "
                        "from its checkpoint (default 2)")
    p.add_argument("--seed", type=int, help="random seed (CPU runs reproduce with the same threads)")
    add_preset_arguments(p)
    add_object_shape_argument(p)
    p.add_argument("--no-report", action="store_true", help="skip each input's videos and report")
    p.set_defaults(run=run)


def run(args) -> int:
    from hold.io.errors import InputError
    from hold.pipeline import ReconstructConfig
    from hold.pipeline.batch import plan_tasks, run_batch, summary_text

    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    if args.retries < 0:
        raise InputError(f"--retries must be >= 0, got {args.retries}")
    root = Path(args.out)
    tasks = plan_tasks(args.inputs, root)
    cfg = ReconstructConfig.load(args.config, preset=args.preset, seed=args.seed, threads=args.threads)
    cfg.set_object_shape(args.object_shape)
    gpus = 0
    if args.device == "cuda":
        if args.ray in (None, "local"):
            require_cuda()  # on a cluster, the Ray check asks for a node with a GPU instead
        cfg.coarse.device = cfg.final.device = "cuda"
        gpus = 1
    if args.no_report:
        cfg.report = False
    summary = run_batch(tasks, root, cfg, ray_address=args.ray, retries=args.retries, gpus=gpus,
                        write=lambda line: print(line, flush=True))
    print(summary_text(summary, root.absolute()))
    sys.stdout.flush()
    return 0 if summary["counts"]["done"] == len(summary["rows"]) else 1
