"""tools/gpu_check.py on the CPU: the no-GPU exit, the step runner's timeouts, skips and
ordering, the JSON writer, the readers of the steps' figures and the compiler choice. The steps
themselves (the CUDA build, tests, bench and reconstructions) need the GPU."""

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_check.sh"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "tools" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gc = _load()
PY = sys.executable


def _fake_smi(tmp_path, body: str) -> dict:
    """An environment whose PATH holds only a fake nvidia-smi (running `body`) and python."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\n{body}\n")
    smi.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHON": PY}


@pytest.mark.parametrize("smi", [None, "echo 'NVIDIA-SMI has failed' >&2; exit 9"])
def test_without_a_gpu_it_stops_at_once_with_one_line(tmp_path, smi):
    env = _fake_smi(tmp_path, smi) if smi else {**os.environ, "PATH": "/usr/bin:/bin",
                                                "PYTHON": PY}
    out = tmp_path / "out"
    start = time.monotonic()
    proc = subprocess.run(["bash", str(SCRIPT), str(out)], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == gc.EXIT_NO_GPU == 3
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("no GPU: "), lines
    assert ("not on PATH" if smi is None else "exit 9") in lines[0]
    assert not out.exists()  # nothing written
    assert time.monotonic() - start < 10


def test_bad_arguments_exit_2(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT), "--budget-s", "-1"], capture_output=True,
                          text=True, env={**os.environ, "PYTHON": PY}, timeout=60)
    assert proc.returncode == gc.EXIT_USAGE
    assert "--budget-s" in proc.stderr


def _step(name, code, timeout_s=10.0, **kw):
    return gc.Step(name, [PY, "-c", code], timeout_s, **kw)


def test_runner_times_out_skips_and_orders_steps(tmp_path):
    updates = []
    runner = gc.Runner(budget_s=6.0, work=tmp_path, reserve_s=0.0,
                       on_update=lambda: updates.append(1))
    started = time.monotonic()
    results = {r.name: r for r in runner.run([
        _step("slow_bg", "import time; time.sleep(30)", timeout_s=1.0, background=True),
        _step("ok", "print('hello'); print('{\"x\": 1}')",
              collect=lambda r: gc.last_json_line(r.output)),
        _step("fails", "import sys; print('boom'); sys.exit(4)"),
        _step("needs_failed", "print('never')", needs=("fails",)),
        _step("after_bg", "print('after')", after=("slow_bg",)),
        _step("too_big", "print('never')", min_s=60.0),
        _step("bad_figures", "print('no json')", collect=lambda r: gc.last_json_line(r.output)),
    ])}
    assert time.monotonic() - started < 6
    assert results["slow_bg"].status == "timeout" and 0.9 < results["slow_bg"].seconds < 4
    assert results["ok"].status == "ok" and results["ok"].figures == {"x": 1}
    assert "hello" in results["ok"].output
    assert results["fails"].status == "failed" and results["fails"].returncode == 4
    assert results["needs_failed"].status == "skipped"
    assert "fails (failed)" in results["needs_failed"].reason
    assert results["after_bg"].status == "ok"  # ran after the background step, whatever its end
    assert results["too_big"].status == "skipped" and "overrun" in results["too_big"].reason
    assert results["bad_figures"].status == "failed" and "figures" in results["bad_figures"].reason
    assert len(updates) == len(results)  # the report is rewritten after every step


def test_runner_caps_a_step_at_the_budget_left(tmp_path):
    runner = gc.Runner(budget_s=1.5, work=tmp_path, reserve_s=0.0)
    (result,) = runner.run([_step("long", "import time; time.sleep(30)", timeout_s=100)])
    assert result.status == "timeout" and result.timeout_s <= 1.5 and result.seconds < 4


def test_report_json_and_log(tmp_path):
    results = [gc.StepResult("a", "ok", 1.0, 0, figures={"rate": 2.5}, output="x\r50%\r100%\n"),
               gc.StepResult("b", "skipped", reason="would overrun the budget"),
               gc.StepResult("c", "timeout", 3.0, reason="stopped", output="last words")]
    report = gc.build_report(results, 480, 12.3, {"gpu": {"name": "test"}}, finished=True)
    path = tmp_path / "o" / "gpu_check.json"
    gc.write_json_atomic(path, report)
    back = json.loads(path.read_text())
    assert back["status"] == "failed" and back["failed"] == ["c"]
    assert back["skipped"] == ["b: would overrun the budget"]
    assert back["figures"] == {"a": {"rate": 2.5}}
    assert back["steps"][2]["output_tail"] == "last words" and "output_tail" not in back["steps"][0]
    assert [p.name for p in path.parent.iterdir()] == ["gpu_check.json"]  # no temporary left
    assert gc.build_report(results[:2], 480, 1, {}, finished=True)["status"] == "partial"
    assert gc.build_report(results[:1], 480, 1, {}, finished=False)["status"] == "running"
    gc.write_log(tmp_path / "log", results)
    log = (tmp_path / "log").read_text()
    assert "===== a: ok" in log and "100%" in gc.collapse_progress(results[0].output)
    assert "50%" not in gc.collapse_progress(results[0].output)


def test_whole_check_with_a_gpu_torch_cannot_see(tmp_path):
    """A fake nvidia-smi gets past the GPU test; torch (CPU build here) then sees no device, so
    the first step fails and every other step is skipped naming it: exit 1, the JSON and the
    log written under OUT, nothing else there."""
    env = _fake_smi(tmp_path, 'echo "NVIDIA H200, 143771 MiB, 580.0, 9.0"')
    out, work = tmp_path / "out", tmp_path / "work"
    proc = subprocess.run(["bash", str(SCRIPT), str(out), "--work", str(work), "--budget-s", "120",
                           "--wheels", str(tmp_path / "no_wheels")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == gc.EXIT_FAILED, proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.json", "gpu_check.log"]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["machine"]["gpu"]["name"] == "NVIDIA H200"
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["torch"]["status"] == "failed" and "sees no CUDA" in steps["torch"]["reason"]
    assert {s["status"] for n, s in steps.items() if n != "torch"} == {"skipped"}
    assert "mug48" in steps and "needs" in steps["mug48"]["reason"]
    assert "gpu_check: failed" in proc.stdout


def test_junit_reader(tmp_path):
    tests = tmp_path / "test_sample.py"
    tests.write_text("import pytest\n"
                     "def test_a(): pass\n"
                     "def test_b(): assert 1 == 2, 'one is not two'\n"
                     "@pytest.mark.skip(reason='needs a GPU')\n"
                     "def test_c(): pass\n")
    xml = tmp_path / "j.xml"
    subprocess.run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests),
                    f"--junitxml={xml}"], capture_output=True, cwd=tmp_path, timeout=120)
    counts = gc.read_junit(xml)
    assert (counts["passed"], counts["failed"], counts["skipped"]) == (1, 1, 1)
    assert "test_b" in counts["failures"][0] and "needs a GPU" in counts["skips"][0]


def test_compiler_choice_follows_the_loaded_libstdcxx():
    system, other = "/usr/lib/libstdc++.so.6.0.30", "/opt/gcc/lib64/libstdc++.so.6.0.33"
    lib = {"/usr/bin/g++": system}.get
    # Python's configured g++ (a second toolchain) links a newer libstdc++ than Python loads.
    chosen = gc.choose_compiler(system, "/opt/gcc/bin/g++ -pthread",
                                lambda c: other if c.startswith("/opt") else lib(c))
    assert chosen["env"] == {"CC": "/usr/bin/gcc", "CXX": "/usr/bin/g++",
                             "LDSHARED": "/usr/bin/g++ -shared"}
    # It matches: nothing to override.
    assert gc.choose_compiler(other, "/opt/gcc/bin/g++",
                              lambda c: other if c.startswith("/opt") else system)["env"] == {}


def test_reconstruct_summary_reader(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({
        "timings_s": {"coarse": 10.0}, "samples_per_s": {"coarse": 1e6}, "total_s": 12.0,
        "metrics": {"mpjpe_mm": 3.0}, "config": {"big": "dict"}}))
    figures = gc.read_reconstruct_summary(tmp_path)
    assert figures == {"timings_s": {"coarse": 10.0}, "samples_per_s": {"coarse": 1e6},
                       "total_s": 12.0, "metrics": {"mpjpe_mm": 3.0}}


def test_prepare_sets_variables_from_earlier_results(tmp_path):
    runner = gc.Runner(budget_s=30, work=tmp_path, reserve_s=0.0)
    results = {r.name: r for r in runner.run([
        _step("first", "import sys; sys.exit(1)"),
        _step("second", "import os; print(os.environ.get('SEEN'))",
              prepare=lambda done: {"SEEN": done["first"].status}),
    ])}
    assert results["second"].output.strip() == "failed"
