#!/usr/bin/env python3
"""The GPU check: one command that, on a fresh GPU machine holding this repository, builds the
CUDA extension, runs the CUDA tests, the CPU/CUDA parity figures, `hold-fast bench --device
cuda`, `hold-fast reconstruct --demo --device cuda` and the 48-frame benchmark mug sequence on
CUDA, and writes ONE JSON with every figure. Made for a lent GPU (about 15 minutes in all,
machine start included): the steps share a time budget (default 480 s), each has its own
timeout, and a step that would overrun is skipped and listed as such.

    bash tools/gpu_check.sh [OUT_DIR] [--budget-s 480] [--dry-run]
    bash tools/gpu_check.sh --fetch-wheels      # here, with PyPI: the wheels the GPU image lacks

OUT_DIR (default $OUT, else ./gpu_check_out) receives gpu_check.json and gpu_check.log (the end
of every step's output) and nothing else; builds and reconstructions go to a scratch folder
(--work). The JSON is rewritten after every step, so a check killed from outside still leaves
the figures of the steps it finished.

Exit status: 0 every step that ran succeeded (skipped steps are listed in the JSON and on the
last line); 1 a step failed or timed out; 2 bad arguments; 3 no GPU (one line "no GPU: ...",
nothing written, nothing run).

This file uses the standard library only: it runs before anything is built, under the machine's
python3 (the one that holds its CUDA torch). docs/ENGINE.md §8 says how to run it on a lent GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_GPU = 0, 1, 2, 3
DEFAULT_BUDGET_S = 480.0  # 8 minutes: a 10-minute command limit with margin
LOG_TAIL_CHARS = 12_000  # of each step's output in gpu_check.log
# The wheels that the lent GPU image lacks (docs/ENGINE.md §8), at the versions tested here.
WHEELS = ["av==18.1.0", "trimesh==5.2.0", "embreex==4.4.0.post1", "nerfacc==0.5.3",
          "setuptools==84.2.1"]
WHEEL_PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                   "manylinux2014_x86_64", "manylinux1_x86_64"]
# The 48-frame benchmark sequence checked on CUDA: synth_mug of hold/data/benchmark.yaml (its
# CPU figures are in the README's table).
MUG48 = ["--object", "025_mug", "--frames", "48", "--size", "256", "256", "--seed", "25",
         "--foreign-hand", "--no-video"]


# ---- steps and the runner ---------------------------------------------------------------------


@dataclass
class Step:
    """One command of the check.

    timeout_s caps the step; min_s is the least budget worth starting it with (else it is
    skipped as an overrun). ``needs``: steps that must have succeeded; ``after``: steps waited
    for whatever their outcome. A background step runs while the next steps start.
    ``collect(result)`` returns the step's figures once it succeeded; ``env`` adds variables,
    and ``prepare(results)`` more of them from the earlier steps' results, when it starts."""

    name: str
    argv: list[str]
    timeout_s: float
    min_s: float = 0.0
    needs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    background: bool = False
    env: dict[str, str] = field(default_factory=dict)
    collect: Callable[["StepResult"], dict] | None = None
    prepare: Callable[[dict], dict] | None = None


@dataclass
class StepResult:
    name: str
    status: str = "pending"  # ok | failed | timeout | skipped | running
    seconds: float = 0.0
    returncode: int | None = None
    reason: str = ""
    timeout_s: float = 0.0
    output: str = ""  # the end of its stdout + stderr (progress bars collapsed)
    figures: dict = field(default_factory=dict)

    def summary(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("output")
        d.pop("figures")
        if self.status in ("failed", "timeout"):
            d["output_tail"] = self.output[-2000:]
        return d


def collapse_progress(text: str) -> str:
    """Keep what a terminal would show: the last carriage-return segment of each line."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


class Runner:
    """Runs steps in order inside one time budget. ``on_update()`` after every step (the JSON
    writer); ``clock`` is injectable for tests."""

    def __init__(self, budget_s: float, work: Path, env: dict | None = None,
                 clock: Callable[[], float] = time.monotonic, reserve_s: float = 5.0,
                 on_update: Callable[[], None] | None = None):
        self.clock, self.start = clock, clock()
        self.deadline = self.start + budget_s
        self.budget_s, self.reserve_s = budget_s, reserve_s
        self.work = work
        self.env = dict(os.environ if env is None else env)
        self.results: dict[str, StepResult] = {}
        self.steps: dict[str, Step] = {}
        self._running: dict[str, tuple[subprocess.Popen, float, object, Path]] = {}
        self.on_update = on_update or (lambda: None)

    def left_s(self) -> float:
        return self.deadline - self.clock() - self.reserve_s

    def run(self, steps: list[Step]) -> list[StepResult]:
        for step in steps:
            self.steps[step.name] = step
            self.results[step.name] = StepResult(step.name, timeout_s=step.timeout_s)
        for step in steps:
            for name in step.needs + step.after:
                self._wait(name)
            self._start(step)
            if not step.background:
                self._wait(step.name)
        for name in list(self._running):
            self._wait(name)
        return list(self.results.values())

    def _start(self, step: Step) -> None:
        result = self.results[step.name]
        unmet = [n for n in step.needs if self.results[n].status != "ok"]
        if unmet:
            return self._skip(result, "needs " + ", ".join(
                f"{n} ({self.results[n].status})" for n in unmet))
        left = self.left_s()
        if left < step.min_s:
            return self._skip(result, f"would overrun the budget: needs at least "
                                      f"{step.min_s:.0f} s, {max(left, 0):.0f} s left")
        result.timeout_s = round(min(step.timeout_s, left), 1)
        log = self.work / f"{step.name}.out"
        handle = open(log, "wb")
        env = {**self.env, **step.env, **(step.prepare(self.results) if step.prepare else {})}
        try:
            proc = subprocess.Popen(step.argv, stdout=handle, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=REPO, env=env,
                                    start_new_session=True)
        except OSError as error:
            handle.close()
            result.status, result.reason = "failed", f"could not start: {error}"
            self.on_update()
            return None
        result.status = "running"
        self._running[step.name] = (proc, self.clock(), handle, log)
        return None

    def _skip(self, result: StepResult, reason: str) -> None:
        result.status, result.reason = "skipped", reason
        self.on_update()

    def _wait(self, name: str) -> None:
        if name not in self._running:
            return
        proc, started, handle, log = self._running.pop(name)
        result = self.results[name]
        while proc.poll() is None and self.clock() - started < result.timeout_s:
            time.sleep(0.05)
        if proc.poll() is None:
            _kill_group(proc)
            result.status = "timeout"
            result.reason = f"stopped after its {result.timeout_s:.0f} s"
        else:
            result.returncode = proc.returncode
            result.status = "ok" if proc.returncode == 0 else "failed"
            if proc.returncode:
                result.reason = f"exit status {proc.returncode}"
        result.seconds = round(self.clock() - started, 2)
        handle.close()
        text = log.read_bytes().decode("utf-8", "replace")
        result.output = collapse_progress(text)[-LOG_TAIL_CHARS:]
        collect = self.steps[name].collect
        if result.status == "ok" and collect:
            try:
                result.figures = collect(result)
            except Exception as error:  # noqa: BLE001 - a figure that cannot be read fails the step
                result.status, result.reason = "failed", f"its figures could not be read: {error!r}"
        self.on_update()


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# ---- the report -----------------------------------------------------------------------------


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON to path via a temporary file and rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def build_report(results: list[StepResult], budget_s: float, elapsed_s: float,
                 machine: dict, finished: bool) -> dict:
    """The JSON of the check: the machine, every step's outcome, what was skipped and why, and
    the figures by step."""
    failed = [r.name for r in results if r.status in ("failed", "timeout")]
    skipped = [f"{r.name}: {r.reason}" for r in results if r.status == "skipped"]
    status = ("running" if not finished else "failed" if failed
              else "partial" if skipped else "ok")
    return {
        "check": "hold-fast GPU check (tools/gpu_check.py)",
        "status": status,
        "budget_s": budget_s,
        "elapsed_s": round(elapsed_s, 1),
        "machine": machine,
        "steps": [r.summary() for r in results],
        "failed": failed,
        "skipped": skipped,
        "figures": {r.name: r.figures for r in results if r.figures},
    }


def write_log(path: Path, results: list[StepResult]) -> None:
    parts = []
    for r in results:
        parts.append(f"===== {r.name}: {r.status} ({r.seconds:.1f} s) {r.reason}\n{r.output}\n")
    path.write_text("".join(parts), encoding="utf-8")


# ---- figures read from the steps' outputs ------------------------------------------------------


def read_junit(path: Path) -> dict:
    """Counts and the failing / skipped tests of a pytest --junitxml file."""
    root = ElementTree.parse(path).getroot()
    cases = root.iter("testcase")
    out = {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "skips": []}
    for case in cases:
        name = f"{case.get('classname')}::{case.get('name')}"
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        skip = case.find("skipped")
        if bad is not None:
            out["failed"] += 1
            out["failures"].append(f"{name}: {(bad.get('message') or '').splitlines()[:1]}")
        elif skip is not None:
            out["skipped"] += 1
            out["skips"].append(f"{name}: {skip.get('message', '')}")
        else:
            out["passed"] += 1
    return out


def read_reconstruct_summary(out_dir: Path) -> dict:
    summary = json.loads((out_dir / "summary.json").read_text())
    keep = ("timings_s", "samples_per_s", "total_s", "metrics")
    return {k: summary[k] for k in keep if k in summary}


def last_json_line(text: str) -> dict:
    """The last line of a step's output that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output")


# ---- the machine ----------------------------------------------------------------------------


def query_gpu(env: dict | None = None) -> tuple[dict | None, str]:
    """(GPU facts, "") from nvidia-smi, or (None, why there is no GPU)."""
    env = dict(os.environ if env is None else env)
    smi = shutil.which("nvidia-smi", path=env.get("PATH"))
    if smi is None:
        return None, "nvidia-smi is not on PATH"
    try:
        proc = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version,compute_cap",
                               "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"nvidia-smi did not answer ({error})"
    lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[:1]
        return None, f"nvidia-smi found no GPU (exit {proc.returncode}: {' '.join(detail)})"
    fields = [f.strip() for f in lines[0].split(",")]
    fields += [""] * (4 - len(fields))
    return {"name": fields[0], "memory": fields[1], "driver": fields[2],
            "compute_capability": fields[3], "count": len(lines)}, ""


def libstdcxx_of(compiler: str) -> str | None:
    """The real path of the libstdc++ a g++ links against, or None."""
    try:
        out = subprocess.run([compiler, "-print-file-name=libstdc++.so.6"], capture_output=True,
                             text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return os.path.realpath(out) if out and os.path.isabs(out) and os.path.exists(out) else None


def choose_compiler(loaded: str | None, python_cxx: str | None,
                    libstdcxx: Callable[[str], str | None] = libstdcxx_of) -> dict:
    """The compiler to build the extension with: the one whose libstdc++ Python loads (README,
    'Installing with CUDA'). Python's build configuration may name a second g++ (seen: /opt/gcc)
    whose newer libstdc++ the extension then needs while the process runs with the older one:
    it built and ran, and crashed in std::ostream at the first formatted error message.

    Returns {"env": variables to set, "reason": ...}; no variables when Python's own compiler
    already matches."""
    if python_cxx:
        configured = shutil.which(python_cxx.split()[0]) or python_cxx.split()[0]
        if loaded and libstdcxx(configured) == loaded:
            return {"env": {}, "reason": f"Python's compiler {configured} links the libstdc++ "
                                         f"it loads ({loaded})"}
    system = "/usr/bin/g++"
    if loaded and libstdcxx(system) == loaded:
        return {"env": {"CC": "/usr/bin/gcc", "CXX": system, "LDSHARED": f"{system} -shared"},
                "reason": f"{system} links the libstdc++ Python loads ({loaded}); Python's "
                          f"configured compiler {python_cxx!r} does not"}
    return {"env": {"CC": "/usr/bin/gcc", "CXX": system, "LDSHARED": f"{system} -shared"}
            if os.path.exists(system) else {},
            "reason": f"no compiler found whose libstdc++ is the loaded one ({loaded}); "
                      f"using {system if os.path.exists(system) else 'the default'}"}


def python_build_facts(python: str, env: dict) -> dict:
    """Python's configured compiler and the libstdc++ the process loads (after torch)."""
    code = ("import json, sysconfig, torch\n"
            "maps = [l.split()[-1] for l in open('/proc/self/maps') if 'libstdc++' in l]\n"
            "print(json.dumps({'cxx': sysconfig.get_config_var('CXX'), 'libstdcxx': "
            "maps[0] if maps else None}))")
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True,
                              timeout=120, env=env)
        if proc.returncode:
            raise RuntimeError(proc.stderr.strip()[-500:])
        facts = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, RuntimeError, ValueError, IndexError) as error:
        return {"cxx": None, "libstdcxx": None, "error": str(error)}
    if facts["libstdcxx"]:
        facts["libstdcxx"] = os.path.realpath(facts["libstdcxx"])
    return facts


# ---- the plan ---------------------------------------------------------------------------------


def plan(python: str, work: Path, wheels: Path, gpu: dict, compiler_env: dict,
         jobs: int) -> list[Step]:
    """The steps, in the order they run. Timeouts are for one H200 (16 cores)."""
    cli = [python, "-m", "hold.cli"]
    arch = gpu.get("compute_capability") or "9.0"
    build_env = {**compiler_env, "HOLD_WITH_CUDA": "1", "TORCH_CUDA_ARCH_LIST": arch}
    torch_code = ("import json, torch; print(json.dumps({'torch': torch.__version__, 'cuda': "
                  "torch.version.cuda, 'available': torch.cuda.is_available(), 'device': "
                  "torch.cuda.get_device_name() if torch.cuda.is_available() else None}))")

    def torch_facts(result):
        facts = last_json_line(result.output)
        if not facts["available"]:
            raise RuntimeError(f"torch {facts['torch']} sees no CUDA device")
        return facts

    has_wheels = any(wheels.glob("*.whl"))
    steps = [Step("torch", [python, "-c", torch_code], 60, collect=torch_facts)]
    if has_wheels:
        steps.append(Step("wheels", [python, "-m", "pip", "install", "-q", "--no-index",
                                     "--no-deps", "--no-compile", "--target",
                                     str(work / "site"), *map(str, sorted(wheels.glob("*.whl")))],
                          120))
    after_wheels = ("wheels",) if has_wheels else ()
    steps += [
        # Our build and nerfacc's JIT build at once (both CPU work), then the synthesis of the
        # sequence (CPU work) while the GPU steps run.
        Step("build", [python, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                       "--no-index", "-e", "."], 300, min_s=60, needs=("torch",),
             after=after_wheels, background=True,
             env={**build_env, "MAX_JOBS": str(max(jobs - 4, 2))}),
        Step("nerfacc_build", [python, "-c", "from nerfacc.cuda import _backend as b; "
                               "assert b._C is not None, 'no nerfacc CUDA build'"], 300,
             min_s=60, needs=("torch",), after=after_wheels, background=True,
             env={**compiler_env, "TORCH_CUDA_ARCH_LIST": arch, "MAX_JOBS": "4"}),
        Step("synth_mug48", [*cli, "synth", str(work / "synth_mug"), *MUG48], 300, min_s=30,
             needs=("build",), background=True),
        Step("extension", [python, "tools/check_cuda_extension.py"], 60, needs=("build",)),
        Step("cuda_tests", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda",
                            "tests/ops", "tests/models/test_fields_hashgrid.py",
                            f"--junitxml={work / 'junit.xml'}"], 180, min_s=30,
             needs=("extension",), after=("nerfacc_build",),
             # Without nerfacc's build the nerfacc tests skip rather than compile it again.
             prepare=lambda results: {} if results["nerfacc_build"].status == "ok" else {
                 "HOLD_NERFACC_CUDA": "0"},
             collect=lambda r: read_junit(work / "junit.xml")),
        Step("parity", [python, "-m", "hold.bench.parity", "--json", str(work / "parity.json")],
             90, min_s=15, needs=("extension",),
             collect=lambda r: json.loads((work / "parity.json").read_text())),
        Step("bench", [*cli, "bench", "--device", "cuda", "--json", str(work / "bench.json")],
             120, min_s=20, needs=("extension",),
             collect=lambda r: json.loads((work / "bench.json").read_text())),
        Step("demo", [*cli, "reconstruct", "--demo", "--device", "cuda", "--no-report",
                      "--threads", "8", "--out", str(work / "demo")], 240, min_s=60,
             needs=("extension",), collect=lambda r: read_reconstruct_summary(work / "demo")),
        Step("mug48", [*cli, "reconstruct", str(work / "synth_mug"), "--device", "cuda",
                       "--no-report", "--threads", "8", "--out", str(work / "mug48")], 420,
             min_s=90, needs=("extension", "synth_mug48"),
             collect=lambda r: read_reconstruct_summary(work / "mug48")),
    ]
    return steps


# ---- the command ----------------------------------------------------------------------------


def fetch_wheels(dest: Path) -> int:
    """Download (here, where PyPI answers) the wheels the GPU image lacks into dest, for the
    image's Python 3.12 on x86-64, and keep the folder out of git."""
    dest.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
            "--python-version", "3.12", "--implementation", "cp", "-d", str(dest)]
    for p in WHEEL_PLATFORMS:
        argv += ["--platform", p]
    status = subprocess.call(argv + WHEELS)
    exclude = REPO / ".git" / "info" / "exclude"
    if status == 0 and exclude.parent.is_dir() and dest.resolve().is_relative_to(REPO):
        rel = "/" + os.path.relpath(dest.resolve(), REPO) + "/"
        lines = exclude.read_text().splitlines() if exclude.exists() else []
        if rel not in lines:
            exclude.write_text("\n".join(lines + [rel]) + "\n")
    size = sum(p.stat().st_size for p in dest.glob("*.whl")) / 2**20
    print(f"gpu_check: {len(list(dest.glob('*.whl')))} wheels, {size:.1f} MiB in {dest}")
    return EXIT_OK if status == 0 else EXIT_FAILED


def parse_args(argv):
    p = argparse.ArgumentParser(prog="tools/gpu_check.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", nargs="?", help="where gpu_check.json and gpu_check.log go "
                                          "(default $OUT, else ./gpu_check_out)")
    p.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S,
                   help=f"time for all steps together (default {DEFAULT_BUDGET_S:.0f})")
    p.add_argument("--work", help="scratch folder for builds and results (default: a new "
                                  "temporary folder)")
    p.add_argument("--wheels", default=str(REPO / ".whl"),
                   help="folder of wheels to install first (default .whl)")
    p.add_argument("--dry-run", action="store_true", help="print the steps and stop")
    p.add_argument("--fetch-wheels", action="store_true",
                   help="download the wheels the GPU image lacks into --wheels, then stop")
    args = p.parse_args(argv)
    if args.budget_s <= 0:
        p.error(f"--budget-s must be > 0, got {args.budget_s}")
    return args


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK
    if args.fetch_wheels:
        return fetch_wheels(Path(args.wheels))
    gpu, why = query_gpu()
    if gpu is None:
        print(f"no GPU: {why}; the GPU check needs an NVIDIA GPU (exit {EXIT_NO_GPU})",
              flush=True)
        return EXIT_NO_GPU
    out = Path(args.out or os.environ.get("OUT") or "gpu_check_out").resolve()
    work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(prefix="gpu_check."))
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    env = dict(os.environ)
    site = work / "site"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), str(REPO),
                                                    env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    facts = python_build_facts(python, env)
    compiler = choose_compiler(facts.get("libstdcxx"), facts.get("cxx"))
    machine = {"gpu": gpu, "python": python, "cpus": os.cpu_count(),
               "compiler": {**facts, **compiler}}
    steps = plan(python, work, Path(args.wheels), gpu, compiler["env"], os.cpu_count() or 4)
    if args.dry_run:
        print(json.dumps({"machine": machine, "budget_s": args.budget_s, "steps": [
            {"name": s.name, "timeout_s": s.timeout_s, "min_s": s.min_s, "needs": s.needs,
             "after": s.after, "background": s.background, "argv": s.argv} for s in steps]},
            indent=2))
        return EXIT_OK
    json_path, log_path = out / "gpu_check.json", out / "gpu_check.log"
    runner: Runner
    printed: set[str] = set()

    def update(finished: bool = False) -> None:
        results = list(runner.results.values())
        write_json_atomic(json_path, build_report(results, args.budget_s,
                                                  runner.clock() - runner.start, machine,
                                                  finished))
        write_log(log_path, results)
        for r in results:
            if r.status not in ("pending", "running") and r.name not in printed:
                printed.add(r.name)
                print(f"gpu_check: {r.name} {r.status} ({r.seconds:.0f} s) {r.reason}",
                      flush=True)

    runner = Runner(args.budget_s, work, env, on_update=update)
    results = runner.run(steps)
    update(finished=True)
    report = json.loads(json_path.read_text())
    print(f"gpu_check: {report['status']} in {report['elapsed_s']:.0f} s; wrote {json_path}")
    if report["skipped"]:
        print("gpu_check: skipped: " + "; ".join(report["skipped"]))
    return EXIT_FAILED if any(r.status in ("failed", "timeout") for r in results) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
