"""Engine I end to end on a tiny synthetic sequence: the loss falls, the result folder passes
the reader's checks, and a resumed run matches an uninterrupted one."""

import numpy as np
import pytest
import torch

from hold.io.sequence import load_result, load_sequence
from hold.models.hand.builtin import BuiltinHand
from hold.synth.generate import generate_sequence
from hold.train import TrainConfig, train_sequence
from hold.train.setup import build_scene
from hold.train.trainer import Trainer
from tests.conftest import requires_native

TINY = dict(steps=60, frames_per_step=2, rays_per_frame=128, object_grid=32, log_every=10,
            hand_refresh_every=1000, occupancy_warmup=16, threads=2)


@pytest.fixture(scope="module")
def tiny_sequence(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq") / "tiny"
    generate_sequence(root, object="025_mug", frames=4, size=(96, 96), seed=3,
                      hand_model=BuiltinHand(), video=False)
    return root


@requires_native
def test_loss_falls_and_result_is_valid(tiny_sequence, tmp_path):
    cfg = TrainConfig(**TINY)
    seq = load_sequence(tiny_sequence)
    scene, data, _ = build_scene(seq, cfg)
    trainer = Trainer(scene, data, cfg)
    first = np.mean([trainer.step()["rgb"] + trainer.step()["semantic"] for _ in range(3)])
    trainer.run(progress=False)
    last = np.mean([trainer.step()["rgb"] + trainer.step()["semantic"] for _ in range(3)])
    assert last < 0.8 * first, (first, last)

    out = tmp_path / "result"
    summary = train_sequence(tiny_sequence, out, TrainConfig(**TINY), progress=False,
                             mesh_resolution=64)
    result = load_result(out, num_frames=4)  # the reader's contract checks
    assert result.hand_joints.shape == (4, 21, 3)
    assert len(result.object_mesh.faces) > 100
    assert summary["steps"] == TINY["steps"]


@requires_native
def test_resumed_run_matches_uninterrupted(tiny_sequence, tmp_path):
    """A run checkpointed at step 9, killed, and resumed from the checkpoint in a freshly built
    trainer ends bit-identical to the same run continued without interruption."""
    from hold.train.checkpoint import load_checkpoint, save_checkpoint

    cfg = TrainConfig(**{**TINY, "steps": 20})
    seq = load_sequence(tiny_sequence)
    scene, data, _ = build_scene(seq, cfg)
    uninterrupted = Trainer(scene, data, cfg)
    uninterrupted.run(until_step=9, progress=False)
    save_checkpoint(tmp_path / "c.ckpt", uninterrupted)
    uninterrupted.run(progress=False)

    scene, data, _ = build_scene(seq, cfg)
    resumed = Trainer(scene, data, cfg)
    load_checkpoint(tmp_path / "c.ckpt", resumed)
    assert resumed.step_count == 9
    resumed.run(progress=False)
    for (name, a), b in zip(uninterrupted.scene.state_dict().items(),
                            resumed.scene.state_dict().values()):
        assert torch.equal(a, b), name
