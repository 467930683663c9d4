// Hash-grid launchers. Compiled twice: hashgrid_cpu.cpp (g++, OpenMP) and hashgrid_cuda.cu
// (nvcc); HOLD_BACKEND_NS picks hold::kernels::cpu or hold::kernels::cuda. The per-element
// bodies are in core/hashgrid.h; this file only chooses F at compile time and the launch shape.
#pragma once

#include <stdexcept>
#include <type_traits>

#include "core/hashgrid.h"
#include "core/parallel_for.h"
#include "kernels/kernels.h"

namespace hold::kernels::HOLD_BACKEND_NS {

namespace {

/// Calls fn(std::integral_constant<int, F>) for the layout's feature count.
template <typename Fn>
void dispatch_features(int n_features, Fn fn) {
  switch (n_features) {
    case 1: fn(std::integral_constant<int, 1>{}); break;
    case 2: fn(std::integral_constant<int, 2>{}); break;
    case 4: fn(std::integral_constant<int, 4>{}); break;
    case 8: fn(std::integral_constant<int, 8>{}); break;
    default: throw std::invalid_argument("hashgrid: n_features must be 1, 2, 4 or 8");
  }
}

/// A level's constants and its index, built once per level (and block) by the launch helpers.
template <typename T>
struct Level {
  core::HashLevel<T> h;
  int index;
};

/// The `prepare` of the launch helpers: level index → Level (a functor, not a lambda, because
/// nvcc forbids extended lambdas in functions with a deduced return type).
template <typename T>
struct LevelOf {
  core::HashGridLayout layout;
  HOLD_HD Level<T> operator()(int level) const {
    return Level<T>{core::hashgrid_level<T>(layout, level), level};
  }
};

template <typename T>
LevelOf<T> level_of(const core::HashGridLayout& layout) {
  return LevelOf<T>{layout};
}

template <typename T, int F>
void encode_fwd(const Exec& ex, const core::HashGridLayout& layout, int64_t n, const T* x,
                const T* params, T* out) {
  const int64_t row = (int64_t)layout.n_levels * F;
  parallel_for_levels(
      n, layout.n_levels, level_of<T>(layout),
      [=] HOLD_DEVICE_LAMBDA(const Level<T>& lv, int64_t i) {
        core::hashgrid_fwd_level<T, F>(lv.h, x + 3 * i, params, out + i * row + lv.index * F);
      },
      ex);
}

template <typename T, int F>
void encode_bwd(const Exec& ex, const core::HashGridLayout& layout, int64_t n,
                const T* grad_out, const T* x, const T* params, T* grad_params, T* grad_x) {
  const int64_t row = (int64_t)layout.n_levels * F;
  if (grad_params)
    parallel_for_owned_levels(
        n, layout.n_levels, level_of<T>(layout),
        [=] HOLD_DEVICE_LAMBDA(const Level<T>& lv, int64_t i) {
          core::hashgrid_bwd_params_level<T, F>(lv.h, x + 3 * i, grad_out + i * row + lv.index * F,
                                                grad_params);
        },
        ex);
  if (grad_x)
    parallel_for(
        n,
        [=] HOLD_DEVICE_LAMBDA(int64_t i) {
          core::hashgrid_bwd_x_point<T, F>(layout, x + 3 * i, grad_out + i * row, params,
                                           grad_x + 3 * i);
        },
        ex);
}

template <typename T, int F>
void encode_bwd_bwd(const Exec& ex, const core::HashGridLayout& layout, int64_t n,
                    const T* grad_grad_x, const T* grad_out, const T* x, const T* params,
                    T* grad_grad_out, T* grad_params, T* grad_x) {
  const int64_t row = (int64_t)layout.n_levels * F;
  if (grad_grad_out || grad_params)
    parallel_for_owned_levels(
        n, layout.n_levels, level_of<T>(layout),
        [=] HOLD_DEVICE_LAMBDA(const Level<T>& lv, int64_t i) {
          const int64_t at = i * row + lv.index * F;
          core::hashgrid_bwd_bwd_level<T, F>(lv.h, x + 3 * i, grad_grad_x + 3 * i,
                                             grad_out + at, params,
                                             grad_grad_out ? grad_grad_out + at : nullptr,
                                             grad_params);
        },
        ex);
  if (grad_x)
    parallel_for(
        n,
        [=] HOLD_DEVICE_LAMBDA(int64_t i) {
          core::hashgrid_bwd_bwd_x_point<T, F>(layout, x + 3 * i, grad_grad_x + 3 * i,
                                               grad_out + i * row, params, grad_x + 3 * i);
        },
        ex);
}

}  // namespace

template <typename T>
void hashgrid_encode_fwd(const Exec& ex, const core::HashGridLayout& layout, int64_t n,
                         const T* x, const T* params, T* out) {
  dispatch_features(layout.n_features, [&](auto f) {
    encode_fwd<T, decltype(f)::value>(ex, layout, n, x, params, out);
  });
}

template <typename T>
void hashgrid_encode_bwd(const Exec& ex, const core::HashGridLayout& layout, int64_t n,
                         const T* grad_out, const T* x, const T* params, T* grad_params,
                         T* grad_x) {
  dispatch_features(layout.n_features, [&](auto f) {
    encode_bwd<T, decltype(f)::value>(ex, layout, n, grad_out, x, params, grad_params, grad_x);
  });
}

template <typename T>
void hashgrid_encode_bwd_bwd(const Exec& ex, const core::HashGridLayout& layout, int64_t n,
                             const T* grad_grad_x, const T* grad_out, const T* x,
                             const T* params, T* grad_grad_out, T* grad_params, T* grad_x) {
  dispatch_features(layout.n_features, [&](auto f) {
    encode_bwd_bwd<T, decltype(f)::value>(ex, layout, n, grad_grad_x, grad_out, x, params,
                                          grad_grad_out, grad_params, grad_x);
  });
}

#define HOLD_INSTANTIATE_HASHGRID(T)                                                          \
  template void hashgrid_encode_fwd<T>(const Exec&, const core::HashGridLayout&, int64_t,     \
                                       const T*, const T*, T*);                               \
  template void hashgrid_encode_bwd<T>(const Exec&, const core::HashGridLayout&, int64_t,     \
                                       const T*, const T*, const T*, T*, T*);                 \
  template void hashgrid_encode_bwd_bwd<T>(const Exec&, const core::HashGridLayout&, int64_t, \
                                           const T*, const T*, const T*, const T*, T*, T*,    \
                                           T*);
HOLD_INSTANTIATE_HASHGRID(float)
HOLD_INSTANTIATE_HASHGRID(double)
#undef HOLD_INSTANTIATE_HASHGRID

}  // namespace hold::kernels::HOLD_BACKEND_NS
