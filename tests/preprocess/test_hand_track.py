"""The hand model against its own renders: MediaPipe-style landmarks (landmarks.py) and the
model-based tracking of an undetected frame against the hand mask (hand_track.py)."""

import numpy as np
import torch

from hold.io.sequence import LABEL_HAND
from hold.models.hand import load_hand_model
from hold.preprocess import hand3d, hand_track, landmarks

K = np.array([[300.0, 0, 63.5], [0, 300.0, 63.5], [0, 0, 1]])
SIZE = (128, 128)


def _truth(frames: int = 3):
    model = load_hand_model("builtin", dtype=torch.float64)
    t = torch.linspace(0, 1, frames, dtype=torch.float64)[:, None]
    orient = torch.tensor([[2.6, 0.3, 0.2]], dtype=torch.float64) + 0.2 * t * torch.tensor([[0.0, 1.0, 0.0]])
    pose = model.hand_pose_from_angles(torch.full((15, 3), 0.0, dtype=torch.float64)
                                       .index_fill(1, torch.tensor([0]), 0.4)).expand(frames, 45)
    transl = torch.tensor([[0.0, 0.0, 0.5]], dtype=torch.float64) + 0.02 * t * torch.tensor([[1.0, 0.0, 0.0]])
    betas = torch.zeros(model.num_betas, dtype=torch.float64)
    out = model(orient, pose, betas.expand(frames, -1), transl)
    params = {"global_orient": orient.numpy(), "hand_pose": pose.numpy(), "betas": betas.numpy(),
              "transl": transl.numpy()}
    return model, params, out


def _project(points):
    uv = points @ K.T
    return uv[..., :2] / uv[..., 2:]


def test_landmark_detections_move_back_onto_the_model_keypoints():
    _, params, out = _truth()
    marks = landmarks.landmark_positions(torch.tensor(params["global_orient"]), out.joints).numpy()
    assert np.linalg.norm(marks[:, 0] - out.joints[:, 0].numpy(), axis=-1).min() > 0.009  # the wrist: ~1 cm
    detected = np.concatenate([_project(marks), np.ones((3, 21, 1))], -1)
    detected[1] = np.nan
    moved = landmarks.to_model_keypoints(detected, params["global_orient"], out.joints.numpy(), K)
    np.testing.assert_allclose(moved[[0, 2], :, :2], _project(out.joints.numpy())[[0, 2]], atol=1e-9)
    assert np.isnan(moved[1]).all()


def test_ik_on_landmarks_recovers_the_keypoints_only_with_the_offsets():
    _, params, out = _truth()
    marks = landmarks.landmark_positions(torch.tensor(params["global_orient"]), out.joints).numpy()
    observed = np.concatenate([_project(marks), np.ones((3, 21, 1))], -1)
    truth = out.joints.numpy()

    def mpjpe(joints):
        return 1000 * np.linalg.norm((joints - joints[:, :1]) - (truth - truth[:, :1]), axis=-1).mean()

    with_offsets = mpjpe(hand3d.lift_keypoints(observed, K, SIZE, detector_landmarks=True).joints)
    without = mpjpe(hand3d.lift_keypoints(observed, K, SIZE).joints)
    assert with_offsets < 3.0 and without > with_offsets + 2.0, (with_offsets, without)


def test_undetected_frame_is_pulled_onto_the_hand_mask():
    model, params, out = _truth()
    labels = np.zeros((3, SIZE[1], SIZE[0]), np.uint8)
    for t in range(3):
        labels[t][hand3d.rasterize_mesh(out.vertices[t].numpy(), model.faces.numpy(), K, SIZE)] = LABEL_HAND
    keypoints = np.concatenate([_project(out.joints.numpy()), np.ones((3, 21, 1))], -1)
    keypoints[1] = np.nan  # the detector missed the middle frame
    start = {k: np.array(v, copy=True) for k, v in params.items()}
    start["transl"][1] += [0.02, -0.015, 0.0]  # its interpolated hand sits 2.5 cm off
    refit = np.array([False, True, False])
    assert hand_track.outside_fraction(
        model(*(torch.tensor(start[k]) for k in ("global_orient", "hand_pose", "betas", "transl"))).vertices.numpy(),
        labels, K)[1] > 0.3
    _, fitted = hand_track.track_hand(model, start, keypoints, labels, K, 2.0, 10.0, refit,
                                      hand_track.TrackSettings(temporal_weight=0.0))
    before = np.linalg.norm(start["transl"][1] - params["transl"][1])
    after = np.linalg.norm(fitted.joints[1, 0].numpy() - out.joints[1, 0].numpy())
    assert after < 0.6 * before, (before, after)
