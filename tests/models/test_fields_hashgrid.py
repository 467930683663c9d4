"""HashGrid module: box normalisation, backends agree, gradients reach the table."""

import pytest
import torch

from hold.models.fields import HashGrid
from hold.ops import HashGridSpec
from hold.ops.reference import hashgrid as ref
from tests.conftest import requires_native

SPEC = HashGridSpec(n_levels=4, n_features=2, log2_table_size=8, base_resolution=4,
                    per_level_scale=1.6)


def test_encodes_the_box_as_the_unit_cube(gen):
    box = ((-0.2, 0.0, 0.1), (0.2, 0.5, 0.3))
    grid = HashGrid(SPEC, bounds=box, init_range=0.5, generator=gen, backend="torch")
    lo, hi = torch.tensor(box[0]), torch.tensor(box[1])
    x = lo + (hi - lo) * torch.rand(64, 3, generator=gen)
    expected = ref.hashgrid_encode((x - lo) / (hi - lo), grid.params.detach(), SPEC)
    torch.testing.assert_close(grid(x), expected)


@requires_native
def test_native_and_torch_backends_agree_and_train(gen):
    grid = HashGrid(SPEC, init_range=0.5, generator=gen)
    x = torch.rand(128, 3, generator=gen)
    native = grid(x)
    grid.backend = "torch"
    torch.testing.assert_close(native, grid(x), rtol=1e-5, atol=1e-6)
    grid.backend = "native"
    native.sum().backward()
    assert grid.params.grad is not None and grid.params.grad.abs().sum() > 0


def test_rejects_bad_bounds_and_backend():
    with pytest.raises(ValueError, match="bounds"):
        HashGrid(SPEC, bounds=((0, 0, 0), (1, -1, 1)))
    with pytest.raises(ValueError, match="backend"):
        HashGrid(SPEC, backend="cuda-magic")
