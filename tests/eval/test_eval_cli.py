"""`hold-fast eval` through the CLI entry point: tables, files, exit codes, one-line errors."""

import json

import numpy as np
import pytest

from hold.cli.main import main


def test_eval_prints_a_table_and_writes_metrics(tmp_path, capsys, make_sequence, gt_as_result):
    seq, gt = make_sequence(tmp_path / "seq")
    result = gt_as_result(tmp_path / "res", gt)
    assert main(["eval", str(result), str(seq), "--json", str(tmp_path / "all.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["sequence", "MPJPE", "mm"]
    assert out[2].split() == ["seq", "0.00", "0.00", "100.00", "100.00", "0.00"]
    assert json.loads((result / "metrics.json").read_text())["f10_percent"] == 100.0
    assert json.loads((tmp_path / "all.json").read_text())["sequences"]["seq"]["cd_cm2"] == 0.0


def test_eval_of_roots_reports_the_mean(tmp_path, capsys, make_sequence, gt_as_result):
    for name, seed in (("a", 1), ("b", 2)):
        _, gt = make_sequence(tmp_path / "seqs" / name, seed=seed)
        gt_as_result(tmp_path / "results" / name, gt)
    assert main(["eval", str(tmp_path / "results"), str(tmp_path / "seqs")]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows == ["a", "b", "mean"]


def test_eval_baselines(tmp_path, capsys, make_sequence):
    seq, _ = make_sequence(tmp_path / "seq", with_inputs=True)
    assert main(["eval", "--baselines", str(seq)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"baselines written to {tmp_path / 'seq_baselines'}"
    assert out[3].split()[0] == "seq" and len(out[3].split()) == 6
    assert (tmp_path / "seq_baselines" / "metrics.json").is_file()


def test_eval_baselines_name_the_missing_input(tmp_path, capsys, make_sequence):
    seq, _ = make_sequence(tmp_path / "seq")  # no masks, no init/
    assert main(["eval", "--baselines", str(seq)]) == 2
    assert "object_poses.npy: missing" in capsys.readouterr().err


def _break(result, seq, how):
    if how == "missing object.obj":
        (result / "object.obj").unlink()
        return "object.obj"
    if how == "mismatched T":
        info = json.loads((result / "result.json").read_text())
        info["num_frames"] = 7
        (result / "result.json").write_text(json.dumps(info))
        return "num_frames"
    if how == "unreadable mesh":
        (result / "object.obj").write_text("v 0 0 0\nthis is not a mesh\n")
        return "object.obj"
    if how == "non-rigid poses":
        poses = np.load(result / "object_poses.npy")
        poses[0, :3, :3] *= 1.1
        np.save(result / "object_poses.npy", poses)
        return "not a rigid"
    if how == "missing sequence":
        return "does not exist"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["missing object.obj", "mismatched T", "unreadable mesh", "non-rigid poses",
                                 "missing sequence"])
def test_bad_inputs_give_one_line_and_exit_2(tmp_path, capsys, make_sequence, gt_as_result, how):
    seq, gt = make_sequence(tmp_path / "seq")
    result = gt_as_result(tmp_path / "res", gt)
    fragment = _break(result, seq, how)
    seq_arg = str(tmp_path / "nowhere" if how == "missing sequence" else seq)
    assert main(["eval", str(result), seq_arg]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hold-fast eval: error:") and fragment in err and "\n" not in err
    assert not (result / "metrics.json").exists()


def test_eval_needs_both_folders(capsys):
    assert main(["eval", "only_one"]) == 2
    assert "RESULT_DIR and SEQ_DIR" in capsys.readouterr().err
