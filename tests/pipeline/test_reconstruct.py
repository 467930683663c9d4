"""`hold-fast reconstruct` as a product: a run killed mid-stage (SIGKILL, in a subprocess) and
resumed ends with the metrics of an uninterrupted run, and bad inputs give one clear message,
a non-zero exit and nothing written to OUT."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import torch
import pytest
from PIL import Image

from hold.cli.main import main
from tests.conftest import requires_native

TRAIN = {"frames_per_step": 2, "rays_per_frame": 128, "object_grid": 32, "log_every": 10,
         "hand_refresh_every": 1000, "occupancy_warmup": 16, "checkpoint_every_s": 0.5,
         "samples_per_step": 0}
CONFIG = {
    "coarse": {**TRAIN, "steps": 150},
    "refine": {"iterations": 20, "sdf_resolution": 32, "object_points": 300},
    "final": {**TRAIN, "steps": 20},
    "mesh_resolution": 64,
    "report": False,
}
METRICS = ("mpjpe_mm", "cd_cm2", "f10_percent", "cd_h_cm2")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny.json"
    path.write_text(json.dumps(CONFIG))
    return path


def _command(*args):
    return [sys.executable, "-m", "hold.cli.main", "reconstruct", *map(str, args),
            "--threads", "2", "--seed", "0"]


def _metrics(out):
    return json.loads((out / "summary.json").read_text())["metrics"]


@requires_native
def test_killed_run_resumes_to_the_same_metrics(tiny_sequence, config_file, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference = tmp_path / "uninterrupted"
    subprocess.run(_command(tiny_sequence, "--out", reference, "--config", config_file),
                   check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_command(tiny_sequence, "--out", killed, "--config", config_file),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = killed / ".work" / "coarse.ckpt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a little further into the stage than the checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    state = json.loads((killed / ".work" / "state.json").read_text())
    assert state["stage"] == "coarse", "killed after the coarse stage: the test must kill mid-stage"
    assert not (killed / "result.json").exists()

    subprocess.run(_command("--resume", killed, "--config", config_file), check=True, env=env,
                   capture_output=True)
    expected, resumed = _metrics(reference), _metrics(killed)
    for name in METRICS:
        assert resumed[name] == pytest.approx(expected[name], rel=0.05), name


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _relabel_masks(seq, relabel):
    """Rewrite every mask of seq through relabel(t, mask) -> mask."""
    for t, path in enumerate(sorted((seq / "masks").iterdir())):
        mask = np.array(Image.open(path))
        Image.fromarray(relabel(t, mask).astype(np.uint8)).save(path)


def _object_elsewhere(t, mask):
    """The object label moved to a small blob at an unrelated place in each frame."""
    mask = np.where(mask == 50, 0, mask)
    corner = [(4, 4), (4, 70), (70, 4), (70, 70)][t % 4]
    mask[corner[0]:corner[0] + 12, corner[1]:corner[1] + 12] = 50
    return mask


@pytest.mark.parametrize("case", ["missing_folder", "broken_meta", "mask_size", "unwritable_out",
                                  "no_object_label", "object_elsewhere"])
def test_bad_input_one_message_nothing_written(case, tiny_sequence, config_file, tmp_path,
                                                capsys):
    seq = tmp_path / "seq"
    out = tmp_path / "out"
    expected = {"missing_folder": "seq", "broken_meta": "meta.json", "mask_size": "masks",
                "unwritable_out": "not writable", "no_object_label": "no pixel is labelled object",
                "object_elsewhere": "object masks and init/object_poses.npy disagree"}[case]
    if case == "missing_folder":
        pass
    elif case == "broken_meta":
        _copy(tiny_sequence, seq)
        (seq / "meta.json").write_text('{"format": "hold-fast-sequence", "num_frames": ')
    elif case == "mask_size":
        _copy(tiny_sequence, seq)
        Image.fromarray(np.zeros((50, 60), np.uint8)).save(seq / "masks" / "000002.png")
    elif case == "unwritable_out":
        _copy(tiny_sequence, seq)
        blocker = tmp_path / "a_file"
        blocker.write_text("not a folder")
        out = blocker / "out"
    elif case == "no_object_label":
        _copy(tiny_sequence, seq)
        _relabel_masks(seq, lambda t, mask: np.where(mask == 50, 0, mask))
    elif case == "object_elsewhere":
        _copy(tiny_sequence, seq)
        _relabel_masks(seq, _object_elsewhere)
    status = main(["reconstruct", str(seq), "--out", str(out), "--config", str(config_file)])
    err = capsys.readouterr().err
    assert status != 0
    assert expected in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_device_cuda_without_a_gpu_says_what_is_missing(tiny_sequence, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["reconstruct", str(tiny_sequence), "--out", str(out), "--device", "cuda"])
    err = capsys.readouterr().err
    assert status == 2
    assert "--device cuda" in err and "CUDA" in err, err
    assert not out.exists()


def test_device_cuda_without_cuda_kernels_says_how_to_build(tiny_sequence, tmp_path, capsys,
                                                            monkeypatch):
    """A GPU that torch sees, but an extension built without CUDA: the message says to rebuild."""
    from hold.ops import _loader

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(_loader, "has_native", lambda device="cpu": device != "cuda")
    out = tmp_path / "out"
    status = main(["reconstruct", str(tiny_sequence), "--out", str(out), "--device", "cuda"])
    err = capsys.readouterr().err
    assert status == 2
    assert "HOLD_WITH_CUDA=1" in err, err
    assert not out.exists()


def test_presets_scale_the_schedule_and_a_config_file_still_wins(tmp_path):
    from hold.io.errors import InputError
    from hold.pipeline import ReconstructConfig

    default, fast, quality = (ReconstructConfig.preset(n) for n in ("default", "fast", "quality"))
    assert (fast.coarse.steps, fast.final.steps, fast.refine.iterations) == \
        (round(default.coarse.steps / 2), round(default.final.steps / 2), round(default.refine.iterations / 2))
    assert (quality.coarse.steps, quality.final.steps) == (2 * default.coarse.steps, 2 * default.final.steps)
    assert fast.mesh_resolution < default.mesh_resolution < quality.mesh_resolution
    # The curvature prior shapes the coarse stage only: the final stage lets the images re-open
    # what it closed (docs/ENGINE.md §2).
    assert all(p.coarse.w_curvature > 0 and p.final.w_curvature == 0 for p in (default, fast, quality))
    config = tmp_path / "c.yaml"
    config.write_text("coarse:\n  steps: 7\n")
    loaded = ReconstructConfig.load(config, preset="fast", threads=1)
    assert (loaded.coarse.steps, loaded.final.steps, loaded.coarse.threads) == (7, fast.final.steps, 1)
    with pytest.raises(InputError, match="--preset: expected one of fast, default, quality"):
        ReconstructConfig.preset("slow")


def test_fast_and_quality_exclude_each_other(tiny_sequence, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["reconstruct", str(tiny_sequence), "--out", str(tmp_path / "o"), "--fast", "--quality"])
    assert exit_info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_config_numbers_as_yaml_writes_them_and_a_wrong_type_is_named(tmp_path):
    """YAML reads `1e-4` (no dot) as a string: it is still the number meant; a value that is not
    a number is one clear error naming the file, the section and the option."""
    from hold.io.errors import InputError
    from hold.pipeline import ReconstructConfig

    config = tmp_path / "c.yaml"
    config.write_text("coarse: {lr_grid: 1e-4, steps: 12.0}\nrefine: {w_contact: 2e-2}\n")
    loaded = ReconstructConfig.load(config)
    assert loaded.coarse.lr_grid == pytest.approx(1e-4) and loaded.coarse.steps == 12
    assert isinstance(loaded.coarse.steps, int) and loaded.refine.w_contact == pytest.approx(0.02)
    for text, message in (("final: {steps: many}", r"final: option steps: expected a number, got 'many'"),
                          ("coarse: {steps: 2.5}", r"coarse: option steps: expected a whole number"),
                          ("refine: {w_contact: true}", r"refine: option w_contact: expected a number")):
        config.write_text(text + "\n")
        with pytest.raises(InputError, match=message):
            ReconstructConfig.load(config)


def test_object_shape_turns_its_prior_on_and_a_config_weight_wins(tmp_path):
    from hold.io.errors import InputError
    from hold.pipeline import ReconstructConfig

    default = ReconstructConfig.load(None)
    # by default the final stage has the mirror prior (off by itself where no plane is found),
    # not the revolution prior; the coarse stage neither
    assert default.coarse.w_mirror == 0 and default.final.w_mirror > 0
    assert default.coarse.w_revolution == 0 and default.final.w_revolution == 0
    default.set_object_shape(None)  # no --object-shape: the schedule as it is
    assert default.final.w_mirror > 0 and default.final.w_revolution == 0
    default.set_object_shape("revolution")  # the turn instead of the mirror
    assert default.coarse.w_revolution == 0 and default.final.w_revolution > 0
    assert default.final.w_mirror == 0
    default.set_object_shape("any")  # no symmetry at all
    assert default.final.w_mirror == 0 and default.final.w_revolution == 0
    default.set_object_shape("mirror")
    assert default.coarse.w_mirror == 0 and default.final.w_mirror > 0

    config = tmp_path / "c.yaml"
    config.write_text("final: {w_revolution: 0.25, w_mirror: 0}\n")
    loaded = ReconstructConfig.load(config)
    loaded.set_object_shape(None)
    assert loaded.final.w_mirror == 0  # the config turned it off
    loaded.set_object_shape("revolution")
    assert loaded.final.w_revolution == 0.25  # the config's weight wins
    loaded.set_object_shape("mirror")  # the flag turns it back on
    assert loaded.final.w_mirror > 0
    config.write_text("final: {w_mirror: 0.5}\n")
    assert ReconstructConfig.load(config).final.w_mirror == 0.5
    with pytest.raises(InputError, match="--object-shape: expected one of mirror, revolution, any"):
        loaded.set_object_shape("cube")