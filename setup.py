"""Builds the extension hold._C ahead of time (never on import).

    pip install torch==2.13.0                      # or your CUDA build of torch, first
    pip install --no-build-isolation -e .         # builds hold._C (ninja is used if installed)

Environment:
    HOLD_WITH_CUDA=auto|0|1   CUDA kernels: auto (default) = on iff the installed torch is a CUDA
                              build *and* a CUDA toolkit is found. Never decided from
                              torch.cuda.is_available(), so CPU-only build hosts work.
    TORCH_CUDA_ARCH_LIST      CUDA architectures (default "8.0;9.0+PTX").
    HOLD_DEBUG=1              -O0 -g (host) and -G (device); release keeps -lineinfo.
    MAX_JOBS                  parallel compile jobs (torch.utils.cpp_extension).
    HOLD_NATIVE_ARCH=1        add -march=native (faster on the build machine, not portable).
    HOLD_NO_EXTENSION=1       skip the extension entirely (pure-PyTorch reference ops only).
"""

import glob
import os
import re

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def read_version() -> str:
    with open(os.path.join(ROOT, "hold", "__init__.py"), encoding="utf-8") as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


def sources(pattern: str) -> list[str]:
    # Relative paths keep the build reproducible and the object names short.
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))


def want_cuda(torch, cuda_home) -> bool:
    flag = os.environ.get("HOLD_WITH_CUDA", "auto").strip().lower()
    if flag in ("0", "off", "false", "no"):
        return False
    available = torch.version.cuda is not None and cuda_home is not None
    if flag in ("1", "on", "true", "yes"):
        if not available:
            raise RuntimeError(
                "HOLD_WITH_CUDA=1 needs a CUDA build of torch and a CUDA toolkit "
                f"(torch.version.cuda={torch.version.cuda!r}, CUDA_HOME={cuda_home!r})"
            )
        return True
    return available


def extension_modules():
    if os.environ.get("HOLD_NO_EXTENSION") == "1":
        return [], {}
    import torch
    from torch.utils import cpp_extension

    with_cuda = want_cuda(torch, cpp_extension.CUDA_HOME)
    debug = os.environ.get("HOLD_DEBUG") == "1"
    archs = os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0+PTX") if with_cuda else ""
    openmp = "OpenMP" in torch.__config__.parallel_info()

    defines = [
        f"-DHOLD_WITH_CUDA={int(with_cuda)}",
        f'-DHOLD_VERSION="{read_version()}"',
        f'-DHOLD_CUDA_ARCHS="{archs}"',
    ]
    cxx = defines + (["-O0", "-g"] if debug else ["-O3", "-g0"])
    arch = os.environ.get("HOLD_NATIVE_ARCH")
    if arch == "1":
        cxx.append("-march=native")
    elif arch:
        cxx.append(f"-march={arch}")
    link = []
    if openmp:  # share torch's OpenMP runtime, so torch.set_num_threads governs our loops too
        cxx.append("-fopenmp")
        link.append("-fopenmp")
    srcs = sources("csrc/kernels/*_cpu.cpp") + sources("csrc/torch/*.cpp")
    kwargs = dict(
        name="hold._C",
        sources=srcs,
        include_dirs=[os.path.join(ROOT, "csrc")],
        extra_link_args=link,
    )
    if with_cuda:
        nvcc = defines + ["--extended-lambda", "--expt-relaxed-constexpr"]
        nvcc += ["-O0", "-G"] if debug else ["-O3", "-lineinfo"]
        kwargs["sources"] = srcs + sources("csrc/kernels/*_cuda.cu")
        kwargs["extra_compile_args"] = {"cxx": cxx, "nvcc": nvcc}
        ext = cpp_extension.CUDAExtension(**kwargs)
    else:
        kwargs["extra_compile_args"] = {"cxx": cxx}
        ext = cpp_extension.CppExtension(**kwargs)
    build = cpp_extension.BuildExtension.with_options(use_ninja=True)
    return [ext], {"build_ext": build}


ext_modules, cmdclass = extension_modules()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
