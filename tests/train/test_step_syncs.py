"""Host–device synchronisations per training step, counted on the CPU (hold.bench.syncs): the
counter sees each kind of sync, and a step stays under the stated budget (docs/ENGINE.md §8)."""

import pytest
import torch

from hold.bench.syncs import (NATIVE, SCALAR, SHAPE, TO_DEVICE, TO_HOST, SyncCounter,
                              count_training_syncs)
from hold.io.sequence import load_sequence
from hold.models.object.symmetry import MirrorPlanes
from hold.train import TrainConfig, losses
from hold.train.setup import build_scene
from hold.train.trainer import Trainer
from tests.conftest import requires_native

# A training step on a GPU (op input checks off, docs/ENGINE.md §8) syncs this often at most:
# 2 sample counts of march_rays, 2 for the boolean mask of the hand-prior residual (forward and
# backward), 1 read back of the logged values.
MAX_SYNCS_PER_GPU_STEP = 5


def test_counter_sees_each_kind_of_sync():
    x = torch.arange(6.0)
    with SyncCounter() as counter:
        float(x.sum())  # scalar read
        x[x > 2].sum()  # boolean mask: data-dependent size
        torch.nonzero(x)
        torch.repeat_interleave(torch.tensor([1, 2]))
        x.tolist()  # device -> host
        x.to("cpu")  # blocking host -> device copy (by the call)
        x.to("cpu", non_blocking=True)  # not counted
        x + 1  # not counted
        x.index_select(0, torch.tensor([1, 2]))  # not counted
    assert counter.by_category() == {SCALAR: 1, SHAPE: 3, TO_HOST: 1, TO_DEVICE: 1}
    assert {where for _, where, _ in counter.by_line()} == {"(outside hold)"}


def test_counter_attributes_events_to_hold_lines_and_skips_host_tensors():
    from hold.ops import march_rays, occgrid_pack

    n = 16
    origins = torch.zeros(n, 3)
    dirs = torch.nn.functional.normalize(torch.rand(n, 3) + 0.1, dim=1)
    bits = occgrid_pack(torch.ones(8**3), 0.5)[None]
    host = torch.tensor(3.0)
    with SyncCounter(host_tensors=lambda: [host]) as counter:
        march_rays(origins, dirs, torch.zeros(n), torch.full((n,), 2.0), bits,
                   torch.tensor([[[0.1] * 3, [1.0] * 3]]), 8, 0.05, backend="torch")
        host.item()  # a host-resident value: no sync
    lines = [where for _, where, _ in counter.by_line()]
    assert counter.total > 0 and all(w.startswith("hold/ops/") for w in lines), lines
    assert SCALAR in counter.by_category()  # the NaN checks on origins and dirs


@requires_native
def test_training_step_syncs_stay_within_budget(tiny_sequence, monkeypatch):
    """Measured, not assumed: a .item(), float(tensor) or boolean mask added to the step shows up
    here. The op input checks (on for the CPU, off on a GPU) are what separates the two counts."""
    cfg = TrainConfig(steps=10, frames_per_step=2, rays_per_frame=64, object_grid=32,
                      hand_refresh_every=1000, occupancy_warmup=4, threads=2,
                      w_curvature=5e-4,  # the product's coarse stage has the curvature prior
                      w_revolution=1.0, w_mirror=1.0)  # and the opt-in symmetry priors add no reads
    scene, data, _ = build_scene(load_sequence(tiny_sequence), cfg)
    trainer = Trainer(scene, data, cfg)
    # a plane for the mirror prior (the tiny mug's start has none of its own)
    trainer.mirror = MirrorPlanes(scene.object.bounds.detach().mean(0, keepdim=True),
                                  torch.tensor([[1.0, 0.0, 0.0]]), torch.ones(1))
    assert trainer.check_op_inputs  # on the CPU the ops check their inputs
    trainer.step()  # step 0 refreshes the occupancy grid and the hand; steps 1-3 do not
    with_checks = count_training_syncs(trainer, 3)
    trainer.check_op_inputs = False  # what a GPU run does
    gpu_like = count_training_syncs(trainer, 3)
    per_step = gpu_like.total / 3
    assert per_step <= MAX_SYNCS_PER_GPU_STEP, gpu_like.by_line()
    assert gpu_like.by_category().get(NATIVE) == 2 * 3  # the two march_rays calls
    assert with_checks.total / 3 >= per_step + 10, (with_checks.by_line(), gpu_like.by_line())

    # Without the op checks, a loss that is not finite stops training with a clear message.
    original = losses.rgb_l1
    monkeypatch.setattr(losses, "rgb_l1", lambda *args: original(*args) * float("nan"))
    with pytest.raises(RuntimeError, match="training diverged at step 8: the loss is nan"):
        trainer.step()
