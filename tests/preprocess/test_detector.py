"""The detector's tracking logic with a scripted stand-in for MediaPipe Hands (the real
detector runs in test_pipeline's real-clip test): the backward pass recovers the frames that
forward tracking missed, and leaves the others alone."""

from types import SimpleNamespace

import numpy as np

from hold.preprocess import detector

SIZE = 64


def _frame(u: float, v: float, detectable: bool) -> np.ndarray:
    """A frame carrying its hand's position (pixel (0, 0) = u, (0, 1) = v) and whether a cold
    palm detector finds it (pixel (0, 2) = 255)."""
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[0, 0] = u, u, u
    image[0, 1] = v, v, v
    image[0, 2] = 255 if detectable else 0
    return image


class _FakeHands:
    """Finds the hand in a detectable frame, or in any frame right after one where it tracked
    it (MediaPipe's video mode); static mode only detects. Always labels it a right hand in an
    unmirrored image ("Left"), mirrored copies ("Right")."""

    def __init__(self, static_image_mode=False, **_):
        self.static, self.tracking = static_image_mode, False

    def process(self, image):
        mirrored = image[0, 0, 0] == 0  # the markers sit at the other end (u > 0 always)
        original = image[:, ::-1] if mirrored else image
        u, v, detectable = float(original[0, 0, 0]), float(original[0, 1, 0]), original[0, 2, 0] == 255
        if not (detectable or (self.tracking and not self.static)):
            self.tracking = False
            return SimpleNamespace(multi_hand_landmarks=None, multi_handedness=None)
        self.tracking = True
        # 21 keypoints: a small fan around (u, v), so the palm has a size.
        offsets = np.stack([np.cos(np.arange(21)), np.sin(np.arange(21))], 1) * 4
        uv = np.array([u, v]) + offsets
        if mirrored:
            uv[:, 0] = SIZE - 1 - uv[:, 0]
        landmarks = SimpleNamespace(landmark=[SimpleNamespace(x=(x + 0.5) / SIZE, y=(y + 0.5) / SIZE)
                                              for x, y in uv])
        label = SimpleNamespace(label="Right" if mirrored else "Left", score=0.9)
        return SimpleNamespace(multi_hand_landmarks=[landmarks],
                               multi_handedness=[SimpleNamespace(classification=[label])])

    def close(self):
        pass


def test_backward_tracking_recovers_the_first_frames(monkeypatch):
    monkeypatch.setattr(detector, "_hands_module", lambda: SimpleNamespace(Hands=_FakeHands))
    # Frames 0-2: the palm detector cannot find the hand cold; from frame 3 on it can.
    positions = [(20 + t, 30 + 2 * t) for t in range(8)]
    images = np.stack([_frame(u, v, detectable=t >= 3) for t, (u, v) in enumerate(positions)])
    out = detector.detect_keypoints(images, zoom=False, backends=("legacy",))
    assert out.found.all()
    assert out.source[:3] == ["both-backwards"] * 3 and set(out.source[3:]) == {"both"}
    centres = out.keypoints[:, :, :2].mean(1)
    offsets = (np.stack([np.cos(np.arange(21)), np.sin(np.arange(21))], 1) * 4).mean(0)
    np.testing.assert_allclose(centres, np.array(positions) + offsets, atol=1e-6)


def test_no_backward_pass_when_forward_found_everything(monkeypatch):
    made = []

    class Counting(_FakeHands):
        def __init__(self, **kw):
            super().__init__(**kw)
            made.append(self)

    monkeypatch.setattr(detector, "_hands_module", lambda: SimpleNamespace(Hands=Counting))
    images = np.stack([_frame(20, 30, detectable=True) for _ in range(4)])
    out = detector.detect_keypoints(images, zoom=False, backends=("legacy",))
    assert out.found.all() and len(made) == 2  # the forward pair only


def test_backwards_a_single_view_is_not_enough(monkeypatch):
    class UnmirroredOnly(_FakeHands):
        def process(self, image):
            if image[0, 0, 0] == 0:  # the mirrored copy: never a hand
                return SimpleNamespace(multi_hand_landmarks=None, multi_handedness=None)
            return super().process(image)

    monkeypatch.setattr(detector, "_hands_module", lambda: SimpleNamespace(Hands=UnmirroredOnly))
    images = np.stack([_frame(20 + t, 30, detectable=t >= 3) for t in range(8)])
    out = detector.detect_keypoints(images, zoom=False, backends=("legacy",))
    assert not out.found[:3].any() and out.found[3:].all()
    assert set(out.source[3:]) == {"tracked"}
