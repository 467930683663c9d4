// Every schema of the `hold` op namespace, in one place. Implementations are registered per
// dispatch key (CPU, CUDA) next to their glue in *_op.cpp; autograd and fake (meta) kernels are
// registered from Python (hold/ops/*.py) with torch.library.
#include <torch/library.h>

TORCH_LIBRARY(hold, m) {
  // ---- hash-grid encoding (hold/ops/hashgrid.py) ----
  m.def("hashgrid_layout(int n_levels, int n_features, int log2_table_size, int base_resolution,"
        " float per_level_scale) -> Tensor");
  m.def("hashgrid_encode_fwd(Tensor x, Tensor params, int n_levels, int log2_table_size,"
        " int base_resolution, float per_level_scale) -> Tensor");
  m.def("hashgrid_encode_bwd(Tensor grad_out, Tensor x, Tensor params, int n_levels,"
        " int log2_table_size, int base_resolution, float per_level_scale,"
        " bool need_grad_params, bool need_grad_x) -> (Tensor, Tensor)");
  m.def("hashgrid_encode_bwd_bwd(Tensor grad_grad_x, Tensor grad_out, Tensor x, Tensor params,"
        " int n_levels, int log2_table_size, int base_resolution, float per_level_scale,"
        " bool need_grad_grad_out, bool need_grad_params, bool need_grad_x)"
        " -> (Tensor, Tensor, Tensor)");
}
