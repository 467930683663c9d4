"""`hold-fast bench`: kernel throughput against the pure-PyTorch references, same run; and
end_to_end, the whole pipeline's frames per second on a fixed 48-frame synthetic video (about
3 minutes on 2 cores; name the other benchmarks to leave it out)."""

from __future__ import annotations

import json
import platform
import sys

from ._device import require_cuda


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="benchmark the compiled kernels against the references",
                       description=__doc__)
    p.add_argument("names", nargs="*", help="benchmarks to run: hashgrid, render, skinning, end_to_end (default: all)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cuda: time the GPU kernels with CUDA events (hashgrid; needs a GPU and "
                        "a CUDA build of hold._C)")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON ('-' = stdout)")
    p.set_defaults(run=run)


def run(args) -> int:
    import torch

    from hold.bench.suite import run_suite
    from hold.bench.timing import format_table
    from hold.io.errors import InputError
    from hold.ops import build_info

    if args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    info = build_info()
    if not info["available"]:
        raise InputError(f"the compiled kernels are not built ({info['error']}); "
                         "run `pip install --no-build-isolation -e .` first")
    if args.device == "cuda":
        require_cuda()
    torch.set_num_threads(args.threads)
    try:
        rows = run_suite(args.names or None, quick=args.quick, device=args.device)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    where = (torch.cuda.get_device_name() if args.device == "cuda"
             else f"{args.threads} thread(s), {platform.processor() or platform.machine()}")
    print(f"hold-fast bench: {where}, torch {torch.__version__}; medians of repeats")
    print(format_table(rows))
    if args.json:
        payload = {"threads": args.threads, "device": args.device, "torch": torch.__version__,
                   "build": info,
                   "rows": [r.as_dict() for r in rows]}
        text = json.dumps(payload, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(text + "\n")
    sys.stdout.flush()
    return 0
