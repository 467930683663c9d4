// The Python module hold._C. Importing it loads the library, whose static initialisers register
// every TORCH_LIBRARY op (torch.ops.hold.*); the module itself only reports what was compiled.
#include <pybind11/pybind11.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef HOLD_WITH_CUDA
#define HOLD_WITH_CUDA 0
#endif
#ifndef HOLD_CUDA_ARCHS
#define HOLD_CUDA_ARCHS ""
#endif
#ifndef HOLD_VERSION
#define HOLD_VERSION "unknown"
#endif

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() = "hold-fast compiled kernels (ops are registered under torch.ops.hold)";
  m.def("build_info", [] {
    py::dict info;
    info["version"] = HOLD_VERSION;
    info["cuda"] = bool(HOLD_WITH_CUDA);
    info["cuda_archs"] = HOLD_CUDA_ARCHS;
#ifdef _OPENMP
    info["openmp"] = true;
    info["openmp_version"] = _OPENMP;
    info["omp_max_threads"] = omp_get_max_threads();
#else
    info["openmp"] = false;
    info["openmp_version"] = 0;
    info["omp_max_threads"] = 1;
#endif
    info["compiler"] = __VERSION__;
    return info;
  });
}
