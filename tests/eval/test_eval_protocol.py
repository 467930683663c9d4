"""The protocol on whole sequence/result folders."""

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hold.eval.protocol import evaluate_many, evaluate_result, format_table
from hold.io.errors import InputError
from hold.io.mesh import Mesh

T = 4


def test_ground_truth_scores_perfectly(tmp_path, make_sequence, gt_as_result):
    seq, gt = make_sequence(tmp_path / "seq")
    result = gt_as_result(tmp_path / "res", gt)
    metrics = evaluate_result(result, seq)
    assert metrics["mpjpe_mm"] == 0.0 and metrics["cd_cm2"] == 0.0 and metrics["cd_h_cm2"] == 0.0
    assert metrics["f5_percent"] == 100.0 and metrics["f10_percent"] == 100.0
    assert json.loads((result / "metrics.json").read_text())["cd_cm2"] == 0.0


def test_hold_exact_mode_on_ground_truth(tmp_path, make_sequence, gt_as_result):
    seq, gt = make_sequence(tmp_path / "seq")
    metrics = evaluate_result(gt_as_result(tmp_path / "res", gt), seq, hold_exact=True)
    assert metrics["protocol"] == "hold-exact-approx"
    assert metrics["mpjpe_mm"] == 0.0 and metrics["cd_h_cm2"] == 0.0
    # HOLD's ICP always takes at least one Umeyama step, so identical shapes land at ~1e-28.
    assert metrics["cd_cm2"] < 1e-20
    assert metrics["f10_percent"] == 100.0


def test_translated_hand_keeps_mpjpe_but_moves_cd_h(tmp_path, make_sequence, gt_as_result):
    seq, gt = make_sequence(tmp_path / "seq")
    shifted = gt.hand_joints + np.float32([0.02, 0, 0])  # whole hand 2 cm off, object right
    metrics = evaluate_result(gt_as_result(tmp_path / "res", gt, joints=shifted), seq)
    assert metrics["mpjpe_mm"] == pytest.approx(0.0, abs=1e-4)
    assert metrics["cd_cm2"] == 0.0
    assert 0 < metrics["cd_h_cm2"] <= 2 * 2.0**2  # a 2 cm shift bounds CD_h by 2·(2 cm)²


def test_invalid_frames_are_not_scored(tmp_path, make_sequence, gt_as_result):
    valid = np.array([True, True, False, True])
    seq, gt = make_sequence(tmp_path / "seq", valid=valid)
    joints = gt.hand_joints.copy()
    joints[2] = np.random.default_rng(0).normal(size=(21, 3))  # garbage in the unscored frame
    metrics = evaluate_result(gt_as_result(tmp_path / "res", gt, joints=joints), seq)
    assert metrics["num_scored_frames"] == 3
    assert metrics["mpjpe_mm"] == 0.0 and metrics["cd_h_cm2"] == 0.0
    assert metrics["per_frame"]["mpjpe_mm"][2] is None


def test_reconstruction_in_another_frame_and_scale(tmp_path, make_sequence, gt_as_result):
    """The result's object frame is rotated, shifted and 1.2x scaled against the CAD frame,
    with poses that agree: CD (shape only, similarity-aligned) is ~0."""
    seq, gt = make_sequence(tmp_path / "seq")
    R = Rotation.from_rotvec([0.4, 2.5, -1.0]).as_matrix()
    c = np.array([0.01, 0.02, -0.03])
    mesh = Mesh(1.2 * gt.object_mesh.vertices @ R.T + c, gt.object_mesh.faces)
    poses = gt.object_poses.astype(np.float64).copy()
    poses[:, :3, :3] = poses[:, :3, :3] @ R.T  # rotation part of (true pose) ∘ (frame change)⁻¹
    poses[:, :3, 3] -= np.einsum("tij,j->ti", poses[:, :3, :3], c)
    metrics = evaluate_result(gt_as_result(tmp_path / "res", gt, mesh=mesh, poses=poses), seq)
    assert metrics["cd_cm2"] < 1e-8 and metrics["f5_percent"] == 100.0
    assert metrics["icp_scale"] == pytest.approx(1 / 1.2, rel=1e-6)


@pytest.mark.parametrize("breakage", ["nan", "frames", "missing"])
def test_broken_results_are_rejected_not_scored(tmp_path, make_sequence, gt_as_result, breakage):
    seq, gt = make_sequence(tmp_path / "seq")
    result = gt_as_result(tmp_path / "res", gt)
    if breakage == "nan":
        joints = np.load(result / "hand_joints.npy")
        joints[1, 4] = np.nan
        np.save(result / "hand_joints.npy", joints)
        fragment = "hand_joints.npy"
    elif breakage == "frames":
        info = json.loads((result / "result.json").read_text())
        info["num_frames"] = T - 1
        (result / "result.json").write_text(json.dumps(info))
        fragment = "num_frames"
    else:
        (result / "object.obj").unlink()
        fragment = "object.obj"
    with pytest.raises(InputError, match=fragment):
        evaluate_result(result, seq)
    assert not (result / "metrics.json").exists()


def test_mean_over_sequences(tmp_path, make_sequence, gt_as_result):
    seqs, results = tmp_path / "seqs", tmp_path / "results"
    _, gt_a = make_sequence(seqs / "a", seed=1)
    _, gt_b = make_sequence(seqs / "b", seed=2)
    moved = gt_a.hand_joints.copy()
    moved[:, 7, 1] += 0.021  # one joint 21 mm off → 1 mm MPJPE
    gt_as_result(results / "a", gt_a, joints=moved)
    gt_as_result(results / "b", gt_b)
    summary = evaluate_many(results, seqs, progress=False)
    assert summary["sequences"]["a"]["mpjpe_mm"] == pytest.approx(1.0, rel=1e-4)
    assert summary["sequences"]["b"]["mpjpe_mm"] == 0.0
    assert summary["mean"]["mpjpe_mm"] == pytest.approx(0.5, rel=1e-4)
    table = format_table(summary["sequences"], summary["mean"])
    assert table.splitlines()[-1].split()[:2] == ["mean", "0.50"]


def test_missing_result_for_a_sequence(tmp_path, make_sequence):
    make_sequence(tmp_path / "seqs" / "a")
    (tmp_path / "results").mkdir()
    with pytest.raises(InputError, match="no result folder for sequence"):
        evaluate_many(tmp_path / "results", tmp_path / "seqs", progress=False)


def _frontend_sequence(result, frame_indices, focal=12.0):
    """The folder `hold-fast reconstruct VIDEO` leaves in RESULT/sequence (meta.json suffices)."""
    from hold.io.sequence import SequenceMeta

    meta = SequenceMeta(num_frames=len(frame_indices), image_size=(8, 8),
                        K=np.array([[focal, 0, 4], [0, focal, 4], [0, 0, 1]]), frame_indices=frame_indices)
    (result / "sequence").mkdir()
    (result / "sequence" / "meta.json").write_text(json.dumps(meta.to_json()))


def test_a_result_made_from_the_video_is_scored_on_its_frames(tmp_path, make_sequence, gt_as_result):
    """The front-end kept video frames 0, 2 and 3: the result's three frames are scored against
    those ground-truth frames (perfect here); any other pairing scores worse."""
    seq, gt = make_sequence(tmp_path / "seq")
    kept = [0, 2, 3]
    result = gt_as_result(tmp_path / "res", gt, joints=gt.hand_joints[kept], poses=gt.object_poses[kept])
    _frontend_sequence(result, kept)
    metrics = evaluate_result(result, seq)
    assert metrics["num_frames"] == 3 and metrics["mpjpe_mm"] == 0.0 and metrics["cd_h_cm2"] == 0.0
    assert metrics["inputs"].startswith("from the video") and metrics["frontend_focal_ratio"] == 1.2
    shifted = tmp_path / "shifted"
    result = gt_as_result(shifted, gt, joints=gt.hand_joints[[1, 2, 3]], poses=gt.object_poses[[1, 2, 3]])
    _frontend_sequence(result, kept)
    assert evaluate_result(result, seq)["mpjpe_mm"] > 1.0


def test_a_result_from_another_video_is_rejected(tmp_path, make_sequence, gt_as_result):
    seq, gt = make_sequence(tmp_path / "seq")
    result = gt_as_result(tmp_path / "res", gt)
    _frontend_sequence(result, [0, 1, 2, 9])
    with pytest.raises(InputError, match="frame_indices reach frame 9"):
        evaluate_result(result, seq)
