"""hold.bench.parity, the GPU check's CPU/CUDA parity figures, run here between the compiled
CPU kernels and the pure-PyTorch references (the same code, another pair of backends)."""

import torch

from hold.bench.parity import CASES, run_parity
from tests.conftest import requires_native


@requires_native
def test_parity_rows_cover_every_case_and_stay_small():
    rows = run_parity(("cpu", "native"), ("cpu", "torch"), quick=True)
    assert {r.op for r in rows} == {"hashgrid_encode", "march_rays", "composite", "lbs_points",
                                    "occgrid_update+pack"}
    assert len(CASES) == 5 and {r.dtype for r in rows} == {"float32", "float64"}
    for r in rows:
        if r.output == "rays with other counts":
            assert r.max_abs_diff <= 0.02 * r.elements, r  # boundary cases only
            continue
        assert r.elements > 0, r
        tol = 1e-9 if r.dtype == "float64" else 1e-3
        assert r.max_abs_diff <= tol * max(1.0, r.max_abs_value), r


def test_parity_reports_a_real_difference():
    """A backend pair that differs (float32 against float64 inputs via a perturbed side) shows
    up as a difference: the figures are not zero by construction."""
    from hold.bench import parity

    class Noisy(parity.Side):
        def put(self, *tensors):
            return [t if t is None or not t.is_floating_point() else t * (1 + 1e-3)
                    for t in super().put(*tensors)]

    gen = torch.Generator().manual_seed(0)
    rows = parity._lbs(gen, torch.float64, (parity.Side("cpu", "torch"), Noisy("cpu", "torch")),
                       quick=True)
    assert max(r.max_abs_diff for r in rows) > 1e-5
