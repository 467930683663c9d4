"""`hold-fast info`: what was compiled and what this machine offers."""

from __future__ import annotations

import importlib.util
import os


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="show the build (CPU/CUDA, archs, OpenMP) and versions",
                       description=__doc__)
    p.set_defaults(run=run)


def run(args) -> int:
    import torch

    from hold import __version__
    from hold.ops import build_info

    info = build_info()
    rows = [("hold-fast", __version__), ("torch", torch.__version__),
            ("torch CUDA", torch.version.cuda or "no (CPU build)"),
            ("CUDA device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")]
    if info["available"]:
        rows += [("hold._C", "built"), ("  CUDA kernels", "yes" if info["cuda"] else "no"),
                 ("  CUDA archs", info["cuda_archs"] or "-"),
                 ("  OpenMP", f"yes ({info['openmp_version']})" if info["openmp"] else "no"),
                 ("  compiler", info["compiler"])]
    else:
        rows += [("hold._C", f"NOT built: {info['error']}"),
                 ("", "ops fall back to the pure-PyTorch references (slow)")]
    rows += [("CPU threads", str(torch.get_num_threads())),
             ("tiny-cuda-nn", "importable" if importlib.util.find_spec("tinycudann") else "no"),
             ("embree ray casting", "yes" if importlib.util.find_spec("embreex") else "no"),
             ("MANO dir (HOLD_MANO_DIR)", os.environ.get("HOLD_MANO_DIR", "unset: built-in hand"))]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    return 0
