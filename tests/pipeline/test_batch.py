"""`hold-fast batch`: inputs planned from paths, globs and lists; a local Ray runtime runs two
synthetic sequences and reports a missing one as failed; a Ray worker killed by its pid is
retried and resumes to the metrics of an uninterrupted run; a re-run skips finished inputs;
the summary table is `hold-fast eval`'s; bad usage exits 2 before any work."""

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from hold.cli.main import main
from hold.io.errors import InputError
from hold.pipeline.batch import _ray_slots, plan_tasks
from tests.conftest import requires_native
from tests.pipeline.test_reconstruct import CONFIG, METRICS, TRAIN

# The tiny schedule (coarse 40 steps, refine 10 iterations, final 20 steps, no report)
# on the small ray budget of the reconstruct tests.
TINY = {**CONFIG, "coarse": {**TRAIN, "steps": 40}, "final": {**TRAIN, "steps": 20},
        "refine": {**CONFIG["refine"], "iterations": 10}}
HAS_RAY = importlib.util.find_spec("ray") is not None
NO_RAY = "needs Ray (pip install 'hold-fast[cluster]'; the dev extra installs it)"
needs_ray = pytest.mark.skipif(not HAS_RAY, reason=NO_RAY)


def _batch(*args, **popen):
    command = [sys.executable, "-m", "hold.cli.main", "batch", *map(str, args)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if popen:
        return subprocess.Popen(command, env=env, **popen)
    return subprocess.run(command, env=env, capture_output=True, text=True)


def _summary(root):
    return json.loads((root / "summary.json").read_text())


def _rows(root):
    return {r["name"]: r for r in _summary(root)["rows"]}


# --------------------------------------------------------------------------- planning


def test_inputs_from_paths_globs_and_lists(tmp_path):
    data = tmp_path / "data"
    for name in ("seq_a", "seq_b", "seq_c"):
        (data / name).mkdir(parents=True)
    (data / "clip.mp4").write_bytes(b"")
    listing = data / "more.txt"
    listing.write_text("# one a line, relative to this file\nseq_c\n\nclip.mp4  # a video\n")
    root = data / "results"
    tasks = plan_tasks([str(data / "seq_*"), str(listing), str(data / "seq_a"),
                        str(data / "gone")], root)
    assert [t.name for t in tasks] == ["seq_a", "seq_b", "seq_c", "clip", "gone"]
    assert tasks[3].input == str(data / "clip.mp4")
    root.mkdir()  # a glob over DATA/* catches the output root: it is not an input
    assert "results" not in [t.name for t in plan_tasks([str(data / "*")], root)]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "seq_a").mkdir()
    with pytest.raises(InputError, match="both write ROOT/seq_a"):
        plan_tasks([str(data / "seq_a"), str(tmp_path / "other" / "seq_a")], root)


def test_ray_slots_follow_the_nodes_resources():
    class FakeRay:  # ray.nodes() as Ray returns it: one dict per node
        def __init__(self, *resources, dead=()):
            self._nodes = [{"Alive": True, "Resources": r} for r in resources] + \
                          [{"Alive": False, "Resources": r} for r in dead]

        def nodes(self):
            return self._nodes

    cluster = FakeRay({"CPU": 8.0, "GPU": 1.0}, {"CPU": 4.0}, dead=[{"CPU": 64.0, "GPU": 8.0}])
    assert _ray_slots(cluster, threads=2, gpus=0, address="x") == 4 + 2
    assert _ray_slots(cluster, threads=3, gpus=0, address="x") == 2 + 1
    assert _ray_slots(cluster, threads=2, gpus=1, address="x") == 1  # one GPU in all
    with pytest.raises(InputError, match="--threads 9"):
        _ray_slots(cluster, threads=9, gpus=0, address="x")
    with pytest.raises(InputError, match="no node .* has a GPU"):
        _ray_slots(FakeRay({"CPU": 4.0}), threads=1, gpus=1, address="x")


# --------------------------------------------------------------------------- bad usage


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address", ["ray://127.0.0.1:{port}", "127.0.0.1:{port}"])
def test_unreachable_ray_address_is_one_error_before_any_work(address, tiny_sequence, tmp_path,
                                                              capsys):
    pytest.importorskip("ray", reason=NO_RAY)
    root = tmp_path / "out"
    address = address.format(port=_free_port())
    started = time.monotonic()
    status = main(["batch", str(tiny_sequence), "--out", str(root), "--ray", address])
    err = capsys.readouterr().err
    assert status == 2
    assert f"--ray {address}" in err and "nothing answers" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not root.exists()
    assert time.monotonic() - started < 30  # Ray's own client waits 30 s and more


def test_unwritable_root_is_one_error(tiny_sequence, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    status = main(["batch", str(tiny_sequence), "--out", str(blocker / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert "not writable" in err and "a_file" in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_missing_ray_says_which_extra_to_install(tiny_sequence, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    status = main(["batch", str(tiny_sequence), "--out", str(tmp_path / "out"), "--ray", "local"])
    err = capsys.readouterr().err
    assert status == 2
    assert "hold-fast[cluster]" in err, err


def test_embedded_run_never_imports_ray_and_reports_a_missing_input(tmp_path):
    root = tmp_path / "out"
    code = ("import sys; from hold.cli.main import main; "
            f"status = main(['batch', {str(tmp_path / 'nope')!r}, '--out', {str(root)!r}]); "
            "print('ray imported' if 'ray' in sys.modules else 'no ray'); sys.exit(status)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip().endswith("no ray"), proc.stdout
    (row,) = _summary(root)["rows"]
    assert row["status"] == "failed" and "nope" in row["error"]
    assert not (root / "nope").exists()  # a missing input writes nothing of its own


# --------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("batch_cfg") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


@pytest.fixture(scope="module")
def ray_batch(tmp_path_factory, tiny_config):
    """Two 8-frame 96² sequences from `hold-fast synth` and a missing path through
    `hold-fast batch --ray local` (two tasks side by side, one thread each)."""
    if not HAS_RAY:
        pytest.skip(NO_RAY)
    base = tmp_path_factory.mktemp("batch")
    seqs = base / "seqs"
    for name, obj, seed in (("mug", "025_mug", 1), ("banana", "011_banana", 2)):
        assert main(["synth", str(seqs / name), "--object", obj, "--frames", "8", "--size", "96",
                     "96", "--seed", str(seed), "--no-video"]) == 0
    root = base / "out"
    started = time.monotonic()
    proc = _batch(seqs / "mug", seqs / "banana", base / "missing", "--out", root, "--config",
                  tiny_config, "--ray", "local", "--threads", "1", "--seed", "0")
    return {"seqs": seqs, "root": root, "proc": proc, "wall_s": time.monotonic() - started,
            "missing": base / "missing"}


@requires_native
@pytest.mark.slow
def test_ray_local_runs_both_sequences_and_fails_the_missing_one(ray_batch):
    proc, root = ray_batch["proc"], ray_batch["root"]
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one input failed
    rows = _rows(root)
    assert list(rows) == ["mug", "banana", "missing"]
    for name in ("mug", "banana"):
        assert rows[name]["status"] == "done", rows[name]
        assert rows[name]["error"] is None and rows[name]["attempts"] == 1
        assert (root / name / "result.json").is_file()
        assert set(METRICS) <= set(rows[name]["metrics"])
        assert {"coarse", "refine", "final", "export"} <= set(rows[name]["timings_s"])
    assert rows["missing"]["status"] == "failed"
    assert str(ray_batch["missing"]) in rows["missing"]["error"]
    assert "\n" not in rows["missing"]["error"]
    assert _summary(root)["counts"] == {"done": 2, "failed": 1, "pending": 0}
    csv_lines = (root / "summary.csv").read_text().splitlines()
    assert len(csv_lines) == 4 and csv_lines[3].startswith(f"{ray_batch['missing']},missing,failed")
    index = (root / "index.html").read_text()
    assert 'href="mug/"' in index and 'href="banana/"' in index
    assert "2 done, 0 running, 1 failed" in proc.stdout  # the last progress line


@requires_native
@pytest.mark.slow
def test_summary_table_is_hold_fast_evals(ray_batch, tmp_path):
    root = ray_batch["root"]
    out = tmp_path / "eval.json"
    assert main(["eval", str(root), str(ray_batch["seqs"]), "--json", str(out)]) == 0
    evaluated = json.loads(out.read_text())
    summary = _summary(root)
    rows = _rows(root)
    for name, metrics in evaluated["sequences"].items():
        for key in METRICS + ("f5_percent",):
            assert rows[name]["metrics"][key] == pytest.approx(metrics[key], rel=1e-12), (name, key)
    for key in METRICS + ("f5_percent",):
        assert summary["mean"][key] == pytest.approx(evaluated["mean"][key], rel=1e-12), key


@requires_native
@pytest.mark.slow
def test_rerun_skips_finished_inputs(ray_batch, tmp_path, tiny_config):
    root = tmp_path / "out"
    shutil.copytree(ray_batch["root"], root)
    before = {n: (root / n / "result.json").stat().st_mtime_ns for n in ("mug", "banana")}
    proc = _batch(ray_batch["seqs"] / "mug", ray_batch["seqs"] / "banana", ray_batch["missing"],
                  "--out", root, "--config", tiny_config, "--threads", "1", "--seed", "0")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 already done, 1 to run" in proc.stdout
    rows = _rows(root)
    for name in ("mug", "banana"):
        assert rows[name]["status"] == "done" and rows[name]["attempts"] == 1
        assert (root / name / "result.json").stat().st_mtime_ns == before[name]
        assert rows[name]["metrics"] == _rows(ray_batch["root"])[name]["metrics"]
    assert rows["missing"]["status"] == "failed"


@requires_native
@needs_ray
@pytest.mark.slow
def test_killed_worker_is_retried_and_resumes_to_the_same_metrics(tiny_sequence, tmp_path):
    """Two copies of one sequence side by side; the worker of the first is killed by its pid
    mid-stage. Ray re-runs the task, which resumes from its checkpoint and ends with the
    metrics of the uninterrupted copy (same seed, same threads: a CPU run reproduces)."""
    for name in ("killed", "uninterrupted"):
        shutil.copytree(tiny_sequence, tmp_path / name)
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps(CONFIG))  # 150 coarse steps, a checkpoint every 0.5 s
    root = tmp_path / "out"
    with open(tmp_path / "batch.log", "w") as log:
        proc = _batch(tmp_path / "killed", tmp_path / "uninterrupted", "--out", root, "--config",
                      config, "--ray", "local", "--threads", "1", "--seed", "0", "--retries", "2",
                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _kill_the_first_worker_mid_stage(proc, root)
        # Generous: the tasks take ~1 min on an idle 2-core machine, far longer on a busy one.
        assert proc.wait(timeout=1800) == 0, (tmp_path / "batch.log").read_text()
    finally:
        if proc.poll() is None:  # the driver and the local Ray runtime it started
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    rows = _rows(root)
    assert rows["killed"]["status"] == "done" and rows["uninterrupted"]["status"] == "done"
    assert rows["killed"]["attempts"] == 2 and rows["uninterrupted"]["attempts"] == 1
    attempts = (root / "killed" / "batch_attempts.jsonl").read_text().splitlines()
    assert json.loads(attempts[1])["pid"] != json.loads(attempts[0])["pid"]
    resumed = re.search(r"coarse: resumed at step (\d+)/", (root / "killed" / "batch.log").read_text())
    assert resumed and int(resumed.group(1)) > 1, "the retry did not resume from a checkpoint"
    for name in METRICS:
        assert rows["killed"]["metrics"][name] == pytest.approx(
            rows["uninterrupted"]["metrics"][name], rel=1e-6), name


def _kill_the_first_worker_mid_stage(proc, root):
    checkpoint = root / "killed" / ".work" / "coarse.ckpt"
    attempts = root / "killed" / "batch_attempts.jsonl"
    deadline = time.monotonic() + 900
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.exists(), "no coarse checkpoint appeared"
    first = checkpoint.stat().st_mtime_ns
    while checkpoint.stat().st_mtime_ns == first and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.05)  # past the second checkpoint, well into the stage
    time.sleep(0.3)
    worker = json.loads(attempts.read_text().splitlines()[0])
    assert worker["pid"] not in (proc.pid, os.getpid())
    os.kill(worker["pid"], signal.SIGKILL)
    state = json.loads((root / "killed" / ".work" / "state.json").read_text())
    assert state["stage"] == "coarse", "killed after the coarse stage: the test must kill mid-stage"
