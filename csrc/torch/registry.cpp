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

  // ---- occupancy grids (hold/ops/occgrid.py) ----
  m.def("occgrid_update(Tensor density, Tensor cells, Tensor values, float decay) -> Tensor");
  m.def("occgrid_pack(Tensor density, float threshold) -> Tensor");
  // ---- ray marching (hold/ops/march.py) ----
  m.def("march_rays(Tensor origins, Tensor dirs, Tensor near, Tensor far, Tensor? offsets,"
        " Tensor? frame, Tensor? transforms, Tensor bits, Tensor aabbs, int resolution,"
        " float step, float cone_angle, int max_samples, int mip_factor)"
        " -> (Tensor packed, Tensor ray_indices, Tensor t_starts, Tensor t_ends)");
  // ---- volume rendering (hold/ops/volrend.py) ----
  m.def("composite_fwd(Tensor packed, Tensor t_starts, Tensor t_ends, Tensor sdf, Tensor node,"
        " Tensor beta, Tensor rgb, Tensor? bg, int mode, float eps)"
        " -> (Tensor rgb, Tensor depth, Tensor opacity, Tensor node_weights, Tensor weights,"
        " Tensor trans)");
  m.def("composite_bwd(Tensor grad_rgb, Tensor grad_depth, Tensor grad_opacity,"
        " Tensor grad_node_weights, Tensor? grad_weights, Tensor packed, Tensor t_starts,"
        " Tensor t_ends, Tensor sdf, Tensor node, Tensor beta, Tensor rgb, Tensor? bg, int mode,"
        " float eps, Tensor weights, Tensor trans)"
        " -> (Tensor grad_sdf, Tensor grad_beta, Tensor grad_rgb, Tensor grad_bg)");
  m.def("merge_samples(Tensor packed_a, Tensor t_mid_a, Tensor packed_b, Tensor t_mid_b)"
        " -> (Tensor packed, Tensor order)");

  // ---- skinning (hold/ops/skinning.py) ----
  m.def("lbs_points_fwd(Tensor x, Tensor weights, Tensor bone_transforms, Tensor frame) -> Tensor");
  m.def("lbs_points_bwd(Tensor grad_out, Tensor x, Tensor weights, Tensor bone_transforms,"
        " Tensor frame, bool need_grad_x, bool need_grad_weights, bool need_grad_bone_transforms)"
        " -> (Tensor, Tensor, Tensor)");
  m.def("skin_weight_volume(Tensor posed_vertices, Tensor vertex_weights, Tensor bounds,"
        " int[] resolution, int k, float sigma, float cutoff=0.0) -> Tensor");
  m.def("inverse_skin_volume_fwd(Tensor x, Tensor frame, Tensor volumes, Tensor bounds,"
        " Tensor bone_transforms, float max_dist) -> (Tensor x_can, Tensor valid)");
  m.def("inverse_skin_volume_bwd(Tensor grad_x_can, Tensor x, Tensor frame, Tensor volumes,"
        " Tensor bounds, Tensor bone_transforms, bool need_grad_x, bool need_grad_bone_transforms)"
        " -> (Tensor, Tensor)");
}
