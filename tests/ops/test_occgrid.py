"""Occupancy grids: update and packing against the reference, bit layout, opcheck, errors."""

import pytest
import torch

from hold.ops import occgrid_pack, occgrid_update, sdf_occupancy
from hold.ops.reference import occgrid as ref
from tests.conftest import requires_native


@requires_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_update_parity_with_duplicates_and_decay(dtype, gen):
    density = torch.rand(8 * 125, generator=gen, dtype=dtype)
    cells = torch.randint(0, 1000, (700,), generator=gen)  # many duplicates
    values = torch.rand(700, generator=gen, dtype=dtype)
    got = occgrid_update(density, cells, values, 0.9, backend="native")
    assert torch.equal(got, ref.occgrid_update(density, cells, values, 0.9))
    untouched = torch.ones(1000, dtype=torch.bool)
    untouched[cells] = False
    assert torch.equal(got[untouched], density[untouched])
    # A cell visited twice keeps the larger fresh value (decay applied once).
    c = int(cells[0])
    expected = max(float(density[c]) * 0.9, float(values[cells == c].max()))
    assert abs(float(got[c]) - expected) < 1e-6


@requires_native
def test_pack_bit_layout_and_parity(gen):
    density = torch.rand(64 * 8, generator=gen, dtype=torch.float64)
    bits = occgrid_pack(density, 0.5, backend="native")
    assert bits.dtype == torch.uint8 and bits.shape == (64,)
    assert torch.equal(bits, ref.occgrid_pack(density, 0.5))
    for i in (0, 7, 8, 100, 511):  # bit i & 7 of byte i >> 3
        assert bool((int(bits[i >> 3]) >> (i & 7)) & 1) == bool(density[i] > 0.5)


@requires_native
def test_opcheck(gen):
    density = torch.rand(64, generator=gen, dtype=torch.float64)
    cells = torch.randint(0, 64, (20,), generator=gen)
    values = torch.rand(20, generator=gen, dtype=torch.float64)
    torch.library.opcheck(torch.ops.hold.occgrid_update.default, (density, cells, values, 0.95))
    torch.library.opcheck(torch.ops.hold.occgrid_pack.default, (density, 0.3))


def test_sdf_occupancy_keeps_surface_cells_and_drops_deep_interior():
    sdf = torch.tensor([0.0, 0.01, -0.01, 0.2, -0.2], dtype=torch.float64)
    occ = sdf_occupancy(sdf, half_diagonal=0.01, beta=0.002, step=0.005)
    assert occ[0] == occ[1] == occ[2] and occ[0] > 0.5  # surface within the cell
    assert occ[3] < 1e-10 and occ[4] < 1e-10  # far outside / deep inside


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: occgrid_update(torch.zeros(16), torch.tensor([16]), torch.ones(1)), "cells values must lie in"),
        (lambda: occgrid_update(torch.zeros(16), torch.tensor([1.0]), torch.ones(1)), "cells must have dtype"),
        (lambda: occgrid_pack(torch.zeros(12), 0.1), "multiple of 8"),
        (lambda: occgrid_update(torch.zeros(16), torch.tensor([1]), torch.ones(2)), "values must have shape"),
    ],
)
def test_bad_inputs(call, words):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert words in str(info.value)
