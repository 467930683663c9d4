// Shared by the torch glue units: argument checks with named messages and the Exec for a tensor.
// This directory is the only place in csrc/ that includes ATen / torch headers.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <initializer_list>
#include <string>

#include "core/exec.h"

#ifndef HOLD_WITH_CUDA
#define HOLD_WITH_CUDA 0
#endif

#if HOLD_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace hold::torch_ops {

/// Shape check with a message naming the op and the argument; -1 matches any size.
inline void check_shape(const char* op, const char* name, const at::Tensor& t,
                        std::initializer_list<int64_t> shape) {
  bool ok = t.dim() == (int64_t)shape.size();
  int64_t d = 0;
  for (int64_t s : shape) {
    if (ok && s >= 0 && t.size(d) != s) ok = false;
    ++d;
  }
  if (!ok) {
    std::string want = "[";
    d = 0;
    for (int64_t s : shape) want += (d++ ? ", " : "") + (s < 0 ? std::string("*") : std::to_string(s));
    want += "]";
    TORCH_CHECK(false, op, ": ", name, " must have shape ", want, ", got ", t.sizes());
  }
}

/// Floating tensors on one device with one dtype, contiguous. `first` sets the expectation.
inline void check_float_tensors(const char* op,
                                std::initializer_list<std::pair<const char*, const at::Tensor*>> ts) {
  const at::Tensor& ref = *ts.begin()->second;
  const char* ref_name = ts.begin()->first;
  TORCH_CHECK(ref.scalar_type() == at::kFloat || ref.scalar_type() == at::kDouble, op, ": ",
              ref_name, " must be float32 or float64, got ", ref.scalar_type());
  for (const auto& [name, t] : ts) {
    TORCH_CHECK(t->scalar_type() == ref.scalar_type(), op, ": ", name, " must have dtype ",
                ref.scalar_type(), " like ", ref_name, ", got ", t->scalar_type());
    TORCH_CHECK(t->device() == ref.device(), op, ": ", name, " must be on ", ref.device(),
                " like ", ref_name, ", got ", t->device());
    TORCH_CHECK(t->is_contiguous(), op, ": ", name, " must be contiguous");
  }
}

/// The stream a launch on `t`'s device should use (nullptr on the CPU).
inline Exec exec_for(const at::Tensor& t) {
  Exec ex;
#if HOLD_WITH_CUDA
  if (t.is_cuda()) ex.stream = c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
#else
  (void)t;
#endif
  return ex;
}

}  // namespace hold::torch_ops
