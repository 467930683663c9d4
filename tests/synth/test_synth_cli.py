"""`hold-fast synth` and the benchmark list."""

import pytest

from hold.cli.main import main
from hold.io.sequence import load_ground_truth, load_sequence
from hold.synth.benchmark import BenchmarkSequence, generate_benchmark, load_benchmark
from hold.synth.generate import YCB_ROOT


def test_synth_writes_a_valid_sequence(tmp_path, capsys):
    out = tmp_path / "seq"
    code = main(["synth", str(out), "--object", "sugar", "--frames", "2", "--size", "40", "32",
                 "--seed", "1", "--joint-noise-mm", "0", "--missing-joints", "0", "--no-video"])
    assert code == 0 and "wrote" in capsys.readouterr().out
    seq, gt = load_sequence(out), load_ground_truth(out)
    assert seq.num_frames == 2 and seq.meta.image_size == (40, 32)
    assert "004_sugar_box" in seq.meta.source and not (out / "video.mp4").exists()
    assert abs(seq.init.hand_joints - gt.hand_joints).max() < 1e-6  # zero joint noise asked for


@pytest.mark.parametrize("argv, fragment", [
    (["synth"], "either OUT_SEQ or --benchmark"),
    (["synth", "x", "--benchmark", "y"], "either OUT_SEQ or --benchmark"),
    (["synth", "x", "--object", "teapot"], "teapot"),
    (["synth", "x", "--joint-noise-mm", "-1"], "--joint-noise-mm"),
    (["synth", "x", "--missing-joints", "1.5"], "--missing-joints"),
    (["synth", "x", "--frames", "0"], "frames"),
])
def test_synth_bad_arguments(tmp_path, capsys, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hold-fast synth: error:") and fragment in err and "\n" not in err
    assert not (tmp_path / "x").exists()


def test_benchmark_lists_every_bundled_object_once():
    specs = load_benchmark()
    bundled = sorted(p.name for p in YCB_ROOT.iterdir() if (p / "mesh.obj").is_file())
    assert sorted(s.object for s in specs) == bundled
    assert all(s.frames == 48 and s.size == (256, 256) for s in specs)
    assert len({s.seed for s in specs}) == len(specs)


def test_generate_benchmark_writes_each_sequence(tmp_path):
    specs = [BenchmarkSequence("tiny_banana", "011_banana", 7, 2, (32, 32))]
    summaries = generate_benchmark(tmp_path, specs, progress=False)
    assert list(summaries) == ["tiny_banana"]
    assert load_sequence(tmp_path / "tiny_banana").num_frames == 2
