"""Engine I end to end on a tiny synthetic sequence: the loss falls, the result folder passes
the reader's checks, and a resumed run matches an uninterrupted one."""

import numpy as np
import pytest
import torch

from hold.io.sequence import load_result, load_sequence
from hold.models.object.symmetry import MirrorPlanes
from hold.train import TrainConfig, train_sequence
from hold.train.setup import build_scene
from hold.train.trainer import Trainer
from tests.conftest import requires_native

TINY = dict(steps=60, frames_per_step=2, rays_per_frame=128, object_grid=32, log_every=10,
            hand_refresh_every=1000, occupancy_warmup=16, threads=2)


@requires_native
def test_loss_falls_and_result_is_valid(tiny_sequence, tmp_path):
    cfg = TrainConfig(**{**TINY, "steps": 150})
    seq = load_sequence(tiny_sequence)
    scene, data, _ = build_scene(seq, cfg)
    trainer = Trainer(scene, data, cfg)
    # The object starts from its visual hull, so the first losses are already moderate; over
    # 150 steps rgb + semantic still fall by a quarter or more (6-step means: little noise).
    first = np.mean([sum(trainer.step()[k] for k in ("rgb", "semantic")) for _ in range(6)])
    trainer.run(progress=False)
    last = np.mean([sum(trainer.step()[k] for k in ("rgb", "semantic")) for _ in range(6)])
    assert last < 0.85 * first, (first, last)

    out = tmp_path / "result"
    summary = train_sequence(tiny_sequence, out, TrainConfig(**TINY), progress=False,
                             mesh_resolution=64)
    result = load_result(out, num_frames=4)  # the reader's contract checks
    assert result.hand_joints.shape == (4, 21, 3)
    assert len(result.object_mesh.faces) > 100
    assert summary["steps"] == TINY["steps"]


@requires_native
def test_rays_per_step_adapt_to_the_sample_budget(tiny_sequence):
    """With samples_per_step set, the rays per step follow the samples per ray after culling
    so that a step's samples settle near the budget, from a start far below it."""
    budget = 16000
    cfg = TrainConfig(**{**TINY, "steps": 40, "samples_per_step": budget})
    scene, data, _ = build_scene(load_sequence(tiny_sequence), cfg)
    trainer = Trainer(scene, data, cfg)
    first = trainer.step()["samples"]
    assert first < 0.7 * budget  # the start (2 frames × 128 rays) is well below the budget
    samples = [trainer.step()["samples"] for _ in range(39)]
    assert trainer.rays_per_frame > 1.3 * TINY["rays_per_frame"]
    assert abs(np.mean(samples[-15:]) / budget - 1) < 0.3, samples[-15:]


@requires_native
def test_mirror_prior_without_a_mirror_plane_trains_without_it(tiny_sequence):
    """The tiny mug's start from 4 masks (a rough hull) has no plane that maps 60 % of its seen
    surface onto itself: the prior adds no term."""
    cfg = TrainConfig(**{**TINY, "steps": 3, "w_mirror": 1.0})
    scene, data, _ = build_scene(load_sequence(tiny_sequence), cfg)
    trainer = Trainer(scene, data, cfg)
    trainer.run(progress=False)
    assert len(trainer.mirror.normals) == 0
    assert all("mirror" not in values for _, _, values in trainer.history.steps)


@requires_native
@pytest.mark.parametrize("samples_per_step, w_revolution, w_mirror",
                         [(0, 0.0, 0.0), (8000, 0.0, 0.0), (0, 1.0, 0.0), (0, 0.0, 1.0)],
                         ids=["fixed-rays", "adapted-rays", "revolution-prior", "mirror-prior"])
def test_resumed_run_matches_uninterrupted(tiny_sequence, tmp_path, samples_per_step, w_revolution, w_mirror):
    """A run checkpointed at step 9, killed, and resumed from the checkpoint in a freshly built
    trainer ends bit-identical to the same run continued without interruption (with fixed and
    with adapted rays per step; with the revolution or the mirror prior, whose axis or planes
    were fitted at step 0 and must not be fitted again to the step-9 shape)."""
    from hold.train.checkpoint import load_checkpoint, save_checkpoint

    cfg = TrainConfig(**{**TINY, "steps": 20, "samples_per_step": samples_per_step,
                         "w_revolution": w_revolution, "w_mirror": w_mirror})
    seq = load_sequence(tiny_sequence)
    scene, data, _ = build_scene(seq, cfg)
    uninterrupted = Trainer(scene, data, cfg)
    if w_mirror:  # the tiny mug's start has no mirror plane of its own (next test): give it one
        uninterrupted.mirror = MirrorPlanes(scene.object.bounds.detach().mean(0, keepdim=True),
                                            torch.tensor([[1.0, 0.0, 0.0]]), torch.ones(1))
    uninterrupted.run(until_step=9, progress=False)
    save_checkpoint(tmp_path / "c.ckpt", uninterrupted)
    uninterrupted_rays_at_9 = uninterrupted.rays_per_frame
    uninterrupted.run(progress=False)

    scene, data, _ = build_scene(seq, cfg)
    resumed = Trainer(scene, data, cfg)
    load_checkpoint(tmp_path / "c.ckpt", resumed)
    assert resumed.step_count == 9
    assert resumed.rays_per_frame == uninterrupted_rays_at_9
    resumed.run(progress=False)
    assert resumed.rays_per_frame == uninterrupted.rays_per_frame
    if w_revolution:
        assert "revolution" in uninterrupted.history.steps[-1][2]
        assert torch.equal(resumed.axis.direction, uninterrupted.axis.direction)
    if w_mirror:
        assert "mirror" in uninterrupted.history.steps[-1][2]
        assert torch.equal(resumed.mirror.normals, uninterrupted.mirror.normals)
        assert torch.equal(resumed.mirror.centres, uninterrupted.mirror.centres)
    for (name, a), b in zip(uninterrupted.scene.state_dict().items(),
                            resumed.scene.state_dict().values()):
        assert torch.equal(a, b), name
