"""The automatic masks' skin colour model on analytic colours."""

import cv2
import numpy as np

from hold.preprocess.masks import SKIN_THRESHOLD, SkinModel


def _lab(rgb) -> np.ndarray:
    """RGB triples in 0..1 → CIELAB float32 [N, 3]."""
    rgb = np.asarray(rgb, np.float32).reshape(1, -1, 3)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def test_shaded_skin_is_skin_only_when_asked_and_only_darker():
    rng = np.random.default_rng(0)
    skin_rgb = np.array([0.85, 0.62, 0.50])
    samples = _lab(np.clip(skin_rgb + rng.normal(0, 0.01, (500, 3)), 0, 1))
    model = SkinModel(samples)
    lit, shaded, bright = _lab([skin_rgb, 0.5 * skin_rgb, np.minimum(1, 1.15 * skin_rgb)])
    blue_shadow = _lab([0.5 * np.array([0.50, 0.62, 0.85])])[0]
    grey = _lab([[0.45, 0.45, 0.45]])[0]
    plain = model.distance(np.stack([lit, shaded, bright, blue_shadow, grey]))
    with_shade = np.minimum(plain, model.shade_distance(np.stack([lit, shaded, bright, blue_shadow, grey])))
    assert plain[0] < 1.0 and with_shade[0] <= plain[0]
    # Half the light: the lightness term rejects it, the chromaticity (a/L, b/L) accepts it.
    assert plain[1] > SKIN_THRESHOLD > with_shade[1]
    # Only darker pixels may use the shading test: brighter ones keep the plain distance.
    assert with_shade[2] == plain[2]
    # A shadow of another hue, or a grey, is not skin either way.
    assert min(plain[3], with_shade[3], plain[4], with_shade[4]) > SKIN_THRESHOLD


def test_grabcut_split_skin_off_the_silhouette_is_hand_never_object():
    """A hand whose fitted silhouette is shifted (a detector error) next to a blue object: the
    skin beyond the silhouette joins the hand, and no skin pixel is labelled object."""
    from hold.preprocess.masks import _grabcut

    rng = np.random.default_rng(0)
    H, W = 96, 96
    image = np.clip(rng.normal(120, 6, (H, W, 3)), 0, 255).astype(np.uint8)  # grey wall
    v, u = np.mgrid[0:H, 0:W]
    hand_true = (u - 40) ** 2 / 14**2 + (v - 50) ** 2 / 20**2 < 1
    obj_true = (u >= 52) & (u < 80) & (v >= 35) & (v < 65) & ~hand_true
    image[hand_true] = (217, 158, 128)
    image[obj_true] = (40, 60, 200)
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    model = SkinModel(lab[hand_true])
    skin_distance = model.distance(lab)
    arm_skin = (skin_distance < SKIN_THRESHOLD) | (model.shade_distance(lab) < SKIN_THRESHOLD)
    silhouette = np.roll(hand_true, -8, axis=1)  # the fit is 8 px to the left
    sil_grown = cv2.dilate(silhouette.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    seed_hand = hand_true & sil_grown
    seed_obj = obj_true.copy()
    forearm = np.zeros((H, W), bool)
    reach = np.ones((H, W), bool)
    hand, obj = _grabcut(image, seed_hand, seed_obj, np.zeros((H, W), bool), skin_distance, arm_skin,
                         sil_grown, forearm, reach, hand_len=30.0)
    assert (hand & hand_true).sum() / hand_true.sum() > 0.95  # the 8 px beyond the fit included
    assert not (obj & hand_true).any()
    assert (obj & obj_true).sum() / obj_true.sum() > 0.9
    assert not (hand & ~hand_true).any()


def test_forearm_line_follows_the_fitted_silhouette_within_bounds():
    from hold.preprocess.masks import _forearm_side

    joints = np.full((21, 2), np.nan)
    joints[0], joints[9] = (50, 50), (50, 30)  # wrist below the knuckle: hand length 20 px, up
    rows = np.arange(100)[:, None] * np.ones((1, 100), int)

    def first_forearm_row(silhouette):
        side = _forearm_side(joints, (100, 100), silhouette)
        assert (side == side[:, :1]).all()  # a horizontal line
        return int(np.flatnonzero(side[:, 0])[0])

    def silhouette_to(row):
        return (rows >= 25) & (rows <= row)

    assert first_forearm_row(None) == 56  # 0.25 hand lengths below the wrist
    assert first_forearm_row(silhouette_to(58)) == 59  # where the model's wrist ends (0.4)
    assert first_forearm_row(silhouette_to(52)) == 56  # never above 0.25
    assert first_forearm_row(silhouette_to(90)) == 61  # never below 0.5 (a bad fit)


def test_grabcut_does_not_trust_change_where_the_background_was_guessed():
    """A wall patch next to the object that the background model never saw (inpainted, wrongly
    "changed") is seeded as object: sure seeds make it object, probable ones let GrabCut's colour
    models give it back to the wall."""
    from hold.preprocess.masks import _grabcut

    rng = np.random.default_rng(1)
    H, W = 96, 96
    v, u = np.mgrid[0:H, 0:W]
    image = np.where(((u // 12) % 2 == 0)[..., None], (150, 110, 160), (110, 150, 120)).astype(float)
    image = np.clip(image + rng.normal(0, 4, (H, W, 3)), 0, 255).astype(np.uint8)  # striped wall
    obj_true = (u >= 40) & (u < 64) & (v >= 40) & (v < 70)
    image[obj_true] = (40, 60, 200)
    patch = (u >= 40) & (u < 64) & (v >= 22) & (v < 40)  # wall above the object, never seen
    hand = np.zeros((H, W), bool)
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    skin_model = SkinModel(np.tile(cv2.cvtColor(np.float32([[[0.85, 0.62, 0.5]]]), cv2.COLOR_RGB2Lab)
                                   .reshape(1, 3), (60, 1)) + rng.normal(0, 0.5, (60, 3)).astype(np.float32))
    skin_distance = skin_model.distance(lab)
    arm_skin = (skin_distance < SKIN_THRESHOLD) | (skin_model.shade_distance(lab) < SKIN_THRESHOLD)
    args = (image, hand, obj_true | patch, hand, skin_distance, arm_skin, hand, hand,
            np.ones((H, W), bool), 30.0)
    _, trusting = _grabcut(*args)
    _, guessing = _grabcut(*args, guessed=patch)
    assert (trusting & patch).sum() / patch.sum() > 0.6  # sure seeds: the eroded patch stays object
    assert (guessing & patch).sum() / patch.sum() < 0.1
    assert (guessing & obj_true).sum() / obj_true.sum() > 0.9


def test_contact_band_ignores_only_background_between_hand_and_object():
    """A gap of background between an object block and a hand block: the gap's pixels within
    the band of both become ignore; everything else, and a frame with no object, is unchanged."""
    from hold.io.sequence import LABEL_BACKGROUND, LABEL_HAND, LABEL_IGNORE, LABEL_OBJECT
    from hold.preprocess.masks import CONTACT_BAND, contact_band

    labels = np.zeros((2, 60, 80), np.uint8)
    labels[:, 10:50, 5:30] = LABEL_OBJECT
    labels[:, 10:50, 34:70] = LABEL_HAND  # columns 30..33: a 4-px gap of background
    labels[1][labels[1] == LABEL_OBJECT] = LABEL_BACKGROUND  # frame 1: no object
    hand_len = 5.0 / CONTACT_BAND  # band radius 5 px
    out, info = contact_band(labels, hand_len)

    assert info["contact_band_px"] == 5.0
    gap = out[0, 10:50, 30:34]
    assert (gap == LABEL_IGNORE).all()  # every gap pixel is within 5 px of both blocks
    assert (out[0, 10:50, 5:30] == LABEL_OBJECT).all() and (out[0, 10:50, 34:70] == LABEL_HAND).all()
    # above the blocks: within 5 px of both only near the gap's columns
    assert (out[0, 8:10, 31:33] == LABEL_IGNORE).all() and (out[0, 8:10, 40:] == 0).all()
    assert (out[0, 0:4] == LABEL_BACKGROUND).all()  # 6+ px above both blocks
    assert (out[0, :, 0:5] == LABEL_BACKGROUND).all() and (out[0, :, 70:] == LABEL_BACKGROUND).all()
    assert np.array_equal(out[1], labels[1])
    assert np.array_equal(labels[0, 10:50, 30:34], np.zeros((40, 4), np.uint8))  # input untouched


def test_contact_band_leaves_a_wide_gap_alone():
    from hold.io.sequence import LABEL_HAND, LABEL_OBJECT
    from hold.preprocess.masks import CONTACT_BAND, contact_band

    labels = np.zeros((1, 40, 80), np.uint8)
    labels[0, 10:30, 0:20] = LABEL_OBJECT
    labels[0, 10:30, 32:60] = LABEL_HAND  # a 12-px gap, more than twice the 5-px band
    out, info = contact_band(labels, 5.0 / CONTACT_BAND)
    assert np.array_equal(out, labels) and info["contact_band_pixels_per_frame"] == 0
