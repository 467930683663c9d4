"""HashGrid module: box normalisation, backends agree, gradients reach the table."""

import pytest
import torch

from hold.models.fields import HashGrid
from hold.ops import HashGridSpec
from hold.ops.reference import hashgrid as ref
from hold.models.fields.hashgrid import tcnn_available
from tests.conftest import requires_cuda, requires_native

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


class _FakeTcnnEncoding(torch.nn.Module):
    """Stands in for tinycudann.Encoding on the CPU: tiny-cuda-nn's module owns a flat table in
    ``self.params`` (made at construction) and reads it in forward."""

    def __init__(self, n_input_dims, config):
        super().__init__()
        self.spec = HashGridSpec(config["n_levels"], config["n_features_per_level"],
                                 config["log2_hashmap_size"], config["base_resolution"],
                                 config["per_level_scale"])
        self.params = torch.nn.Parameter(torch.zeros(self.spec.n_params * self.spec.n_features))

    def forward(self, x):
        return ref.hashgrid_encode(x, self.params.reshape(-1, self.spec.n_features), self.spec)


def test_tcnn_path_trains_and_checkpoints_our_table(gen, monkeypatch):
    """With tiny-cuda-nn in use, the optimizer built before the first forward must train the
    table, the state dict must keep exactly one table, and the CPU path must read the trained
    values (tiny-cuda-nn runs on CUDA only, so its module is faked and forced here)."""
    import sys
    import types

    fake = types.SimpleNamespace(Encoding=_FakeTcnnEncoding)
    monkeypatch.setitem(sys.modules, "tinycudann", fake)
    monkeypatch.setattr(HashGrid, "use_tcnn", lambda self, x: self.backend != "torch")
    grid = HashGrid(SPEC, init_range=0.5, generator=gen)
    keys = set(grid.state_dict())
    optimizer = torch.optim.SGD(grid.parameters(), lr=0.1)
    x = torch.rand(64, 3, generator=gen)
    out = grid(x)
    torch.testing.assert_close(out, ref.hashgrid_encode(x, grid.params.detach(), SPEC))
    out.square().sum().backward()
    before = grid.params.detach().clone()
    optimizer.step()
    assert not torch.equal(before, grid.params.detach())  # the table the optimizer holds moved
    assert set(grid.state_dict()) == keys  # no second table in checkpoints
    trained = grid(x)
    grid.backend = "torch"  # what the CPU path (export, refinement) reads
    torch.testing.assert_close(trained, grid(x))


@requires_cuda
@pytest.mark.skipif(not tcnn_available(), reason="tinycudann is not installed")
def test_tcnn_and_native_kernels_agree_on_cuda(gen):
    """The same table read by tiny-cuda-nn and by hold-fast's CUDA kernel (the layouts must
    match; tiny-cuda-nn may compute in half precision, hence the tolerance)."""
    grid = HashGrid(SPEC, init_range=0.5, generator=gen).cuda()
    x = torch.rand(4096, 3, generator=gen).cuda()
    assert grid.use_tcnn(x)
    tcnn_out = grid(x)
    grid.backend = "native"
    torch.testing.assert_close(tcnn_out, grid(x), rtol=2e-3, atol=2e-3)
