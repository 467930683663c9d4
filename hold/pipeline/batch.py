"""`hold-fast batch`: many inputs, each one `reconstruct` into ROOT/<name>/, on this machine or
a Ray cluster (docs/CLUSTER.md).

One task function, ``run_task``, runs one input wherever it is called: it resumes from the
checkpoints of an earlier attempt (reconstruct's ``resume=True``), turns a bad input into a
failed row with a one-line error, and logs to ROOT/<name>/batch.log. Two runners call it:

- embedded (the default): one task after another in this process; Ray is never imported.
- Ray (``--ray local|auto|ray://HOST:PORT|HOST:PORT``): one Ray task per input asking for
  ``num_cpus = threads`` (and a GPU with ``--device cuda``) and ``max_retries = retries``, so a
  worker that dies is re-run by Ray and its task resumes from the last checkpoint. Ray schedules;
  this module only submits, waits (``ray.wait``) and records.

After every finished task ROOT/summary.json, summary.csv and index.html are rewritten (atomic),
so a killed driver leaves valid results; re-running the same command skips finished inputs and
resumes unfinished ones.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import html
import io
import json
import logging
import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from hold.eval.protocol import METRIC_KEYS, format_table, mean_metrics
from hold.io.atomic import write_bytes_atomic, write_json_atomic
from hold.io.errors import InputError
from hold.preprocess.frames import VIDEO_SUFFIXES

LIST_SUFFIXES = (".txt", ".list", ".lst")
STAGES = ("setup", "coarse", "refine", "final", "export", "report")
LOCAL_OBJECT_STORE_BYTES = 100 * 1024**2  # rows are small dicts; Ray's minimum is 75 MiB
CONNECT_TIMEOUT_S = 5.0
HEARTBEAT_S = 120.0  # a progress line at least this often while Ray tasks run
ATTEMPTS_FILE = "batch_attempts.jsonl"
LOG_FILE = "batch.log"


@dataclass(frozen=True)
class Task:
    """One input: ``input`` the absolute path given (video, frames folder or sequence folder),
    ``name`` its result folder ROOT/<name>."""

    input: str
    name: str


# --------------------------------------------------------------------------- planning


def _expand_glob(item: str) -> list[str]:
    if any(c in item for c in "*?[") and not Path(item).exists():
        matches = sorted(glob.glob(item))
        if matches:
            return matches
    return [item]  # as given: a missing path becomes a failed row that names it


def expand_inputs(items: list[str]) -> list[str]:
    """Inputs from the command line: paths, globs, and text files (.txt/.list/.lst) listing
    one path or glob a line (# comments; relative paths are relative to the list's folder)."""
    out: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            try:
                lines = path.read_text().splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"{path}: cannot read the list of inputs ({exc})") from None
            for line in lines:
                entry = line.split("#", 1)[0].strip()
                if entry:
                    entry_path = Path(entry).expanduser()
                    if not entry_path.is_absolute():
                        entry_path = path.parent / entry_path
                    out.extend(_expand_glob(str(entry_path)))
        else:
            out.extend(_expand_glob(item))
    return out


def task_name(path: Path) -> str:
    """ROOT/<name>: a folder's name; a video's stem, or the name of the sequence folder it sits
    in (SEQ/video.mp4 → SEQ), so that `hold-fast eval ROOT SEQS` pairs results by name."""
    if path.suffix.lower() in VIDEO_SUFFIXES and not path.is_dir():
        return path.parent.name if (path.parent / "meta.json").is_file() else path.stem
    return path.name


def plan_tasks(items: list[str], root: str | os.PathLike) -> list[Task]:
    """One Task per distinct input, in the order given. The output root itself (a glob such
    as DATA/* with --out DATA/results catches it) is left out."""
    root = Path(root).resolve()
    tasks: list[Task] = []
    seen: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for item in expand_inputs(items):
        path = Path(item).expanduser().absolute()
        key = str(path.resolve())
        if key == str(root) or key in seen:
            continue
        seen[key] = item
        name = task_name(path)
        if not name or name in (".", ".."):
            raise InputError(f"{item}: cannot name a result folder after this input")
        if name in by_name:
            raise InputError(f"{by_name[name]} and {item} would both write ROOT/{name}; "
                             "rename one or run them into different --out folders")
        by_name[name] = item
        tasks.append(Task(str(path), name))
    if not tasks:
        raise InputError("no inputs: give videos, frame folders or sequence folders (paths, "
                         "globs, or a .txt file listing them)")
    return tasks


# --------------------------------------------------------------------------- one task


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _new_row(task: Task) -> dict:
    return {"input": task.input, "name": task.name, "status": "failed", "error": None,
            "metrics": None, "timings_s": {}, "attempts": 0, "host": None, "skipped": False}


def _attempts(out: Path) -> int:
    path = out / ATTEMPTS_FILE
    return len(path.read_text().splitlines()) if path.is_file() else 0


def _record_attempt(out: Path) -> int:
    """Append this attempt (pid, host) to ROOT/<name>/batch_attempts.jsonl; returns its number."""
    out.mkdir(parents=True, exist_ok=True)
    number = _attempts(out) + 1
    with open(out / ATTEMPTS_FILE, "a") as f:
        f.write(json.dumps({"attempt": number, "pid": os.getpid(), "host": socket.gethostname(),
                            "started": time.time()}) + "\n")
    return number


def _previous_run(task: Task, out: Path) -> str | None:
    """"done", "unfinished" or None for ROOT/<name>; an error when it holds another input's run."""
    state_path = out / ".work" / "state.json"
    if not state_path.is_file():
        return None
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return None  # reconstruct writes it atomically: unreadable means nothing to resume
    recorded = state.get("input")
    if recorded is not None and Path(recorded).resolve() != Path(task.input).resolve():
        raise InputError(f"{out} holds the run of another input ({recorded}); give another "
                         "--out or remove that folder")
    if state.get("stage") == "done":
        if (out / "summary.json").is_file():
            return "done"
        raise InputError(f"{out}: the run ended but its summary.json is missing; remove "
                         f"{out / '.work'} and {out / 'result.json'} to run it again")
    return "unfinished"


def finished_row(task: Task, root: str | os.PathLike) -> dict | None:
    """The row of an input whose ROOT/<name> already holds a finished run, else None."""
    out = Path(root) / task.name
    if _previous_run(task, out) != "done":
        return None
    summary = json.loads((out / "summary.json").read_text())
    row = _new_row(task)
    row.update(status="done", timings_s=summary.get("timings_s", {}), attempts=_attempts(out),
               metrics=_scalar_metrics(summary.get("metrics")))
    if summary.get("report"):
        row["report"] = os.path.relpath(summary["report"], out)
    return row


def _scalar_metrics(metrics: dict | None) -> dict | None:
    if not metrics:
        return None
    return {key: float(metrics[key]) for key in METRIC_KEYS if key in metrics}


class _TaskLog:
    """ROOT/<name>/batch.log, appended; also receives the task's stdout and stderr."""

    def __init__(self, path: Path):
        self.file = open(path, "a", buffering=1)
        self._redirect = contextlib.ExitStack()

    def __call__(self, message: str) -> None:
        self.file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    def __enter__(self):
        self._redirect.enter_context(contextlib.redirect_stdout(self.file))
        self._redirect.enter_context(contextlib.redirect_stderr(self.file))
        return self

    def __exit__(self, *exc):
        self._redirect.close()
        self.file.close()


def run_task(task: Task, root: str, cfg) -> dict:
    """Reconstruct one input into ROOT/<name> (resuming an unfinished run); returns its row.
    Never raises for a bad input or a failing run: the row says ``failed`` with the error."""
    from hold.pipeline.inputs import ground_truth_for, input_kind, sequence_for
    from hold.pipeline.reconstruct import reconstruct

    started = time.perf_counter()
    out = Path(root) / task.name
    row = _new_row(task)
    row["host"] = socket.gethostname()
    try:
        input_kind(task.input)  # a missing or unusable input fails before anything is written
        if _previous_run(task, out) == "done":
            row = finished_row(task, root)
            row["skipped"] = True
            return row
        attempt = _record_attempt(out)
        row["attempts"] = attempt
        with _TaskLog(out / LOG_FILE) as log:
            log(f"attempt {attempt}: {task.input} on {row['host']} (pid {os.getpid()})")
            try:
                seq = sequence_for(task.input, out, progress=False, log=log)
                summary = reconstruct(seq, out, cfg, resume=True, progress=False, log=log,
                                      input_path=task.input,
                                      ground_truth_dir=ground_truth_for(task.input))
            except InputError as exc:
                log(f"failed: {exc}")
                raise
            except Exception:
                log("failed:\n" + traceback.format_exc())
                raise
            log(f"done in {time.perf_counter() - started:.1f} s")
        row.update(status="done", metrics=_scalar_metrics(summary.get("metrics")),
                   timings_s=summary["timings_s"])
        if summary.get("report"):
            row["report"] = os.path.relpath(summary["report"], out)
    except InputError as exc:
        row["error"] = _one_line(exc)
    except Exception as exc:  # noqa: BLE001 - one input's failure must not stop the others
        row["error"] = f"{type(exc).__name__}: {_one_line(exc)} (traceback in {out / LOG_FILE})"
    row["wall_s"] = time.perf_counter() - started
    return row


# --------------------------------------------------------------------------- results


def _row_for_summary(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "skipped"}


def write_results(root: Path, rows: list[dict], info: dict) -> None:
    """ROOT/summary.json, summary.csv and index.html from the rows (in input order)."""
    scored = {r["name"]: r["metrics"] for r in rows
              if r["status"] == "done" and r.get("metrics") and set(METRIC_KEYS) <= set(r["metrics"])}
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "pending")}
    summary = {"version": 1, **info, "counts": counts,
               "mean": mean_metrics(scored.values()) if scored else None,
               "rows": [_row_for_summary(r) for r in rows]}
    write_json_atomic(root / "summary.json", summary)
    write_bytes_atomic(root / "summary.csv", _csv(rows).encode())
    write_bytes_atomic(root / "index.html", _index_html(rows, summary).encode())


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["input", "name", "status", "error", "attempts", *METRIC_KEYS, "total_s",
                     *(f"{s}_s" for s in STAGES)])
    for r in rows:
        metrics, timings = r.get("metrics") or {}, r.get("timings_s") or {}
        total = sum(timings.values()) if timings else None
        writer.writerow([r["input"], r["name"], r["status"], r["error"] or "", r["attempts"],
                         *(_fmt(metrics.get(k)) for k in METRIC_KEYS), _fmt(total),
                         *(_fmt(timings.get(s)) for s in STAGES)])
    return buffer.getvalue()


def _fmt(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _index_html(rows: list[dict], summary: dict) -> str:
    e = html.escape
    head = ["sequence", "status", *METRIC_KEYS, "time s", "error"]
    body = []
    for r in rows:
        link = f"{r['name']}/{r['report']}" if r.get("report") else f"{r['name']}/"
        metrics, timings = r.get("metrics") or {}, r.get("timings_s") or {}
        cells = [f'<a href="{e(link)}">{e(r["name"])}</a>', e(r["status"]),
                 *(_fmt(metrics.get(k), 2) for k in METRIC_KEYS),
                 _fmt(sum(timings.values()) if timings else None, 0), e(r["error"] or "")]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if summary["mean"]:
        cells = ["mean", "", *(_fmt(summary["mean"][k], 2) for k in METRIC_KEYS), "", ""]
        body.append("<tr class=mean>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    c = summary["counts"]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>hold-fast batch</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{padding:.25em .7em;border-bottom:1px solid #ccc;text-align:right}}
td:first-child,td:nth-child(2),td:last-child,th:first-child{{text-align:left}} .mean{{font-weight:bold}}</style>
</head><body>
<h1>hold-fast batch</h1>
<p>{c['done']} done, {c['failed']} failed, {c['pending']} pending of {len(rows)} inputs
({e(summary['runner'])}, {summary['threads']} CPU thread(s) each). Metrics: docs/EVALUATION.md;
rows and timings also in <a href="summary.json">summary.json</a> and <a href="summary.csv">summary.csv</a>.</p>
<table><tr>{''.join(f'<th>{e(h)}</th>' for h in head)}</tr>
{chr(10).join(body)}
</table></body></html>
"""


class _Progress:
    """One line per event: finished/total, done, running, failed and an ETA from the rate of
    tasks finished in this run (so it accounts for tasks running side by side)."""

    def __init__(self, total: int, slots: int, write=print):
        self.total, self.slots, self.write = total, max(slots, 1), write
        self.done = self.failed = self.skipped = self.ran = 0
        self.start = time.perf_counter()

    def _eta(self, remaining: int) -> str:
        if remaining == 0:
            return "0 s"
        if self.ran == 0:
            return "unknown"
        seconds = (time.perf_counter() - self.start) / self.ran * remaining
        return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"

    def line(self, event: str = "") -> None:
        finished = self.done + self.failed
        remaining = self.total - finished
        running = min(remaining, self.slots)
        self.write(f"batch [{finished}/{self.total}]{' ' + event if event else ''} · "
                   f"{self.done} done, {running} running, {self.failed} failed · "
                   f"ETA {self._eta(remaining)}")

    def finished(self, row: dict) -> None:
        if row["status"] == "done":
            self.done += 1
        else:
            self.failed += 1
        if row.get("skipped"):
            self.skipped += 1
        else:
            self.ran += 1
        wall = f" in {row['wall_s']:.0f} s" if row.get("wall_s") is not None else ""
        self.line(f"{row['name']} {row['status']}{wall}" +
                  (f" ({row['error']})" if row["error"] else ""))


# --------------------------------------------------------------------------- Ray


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray, an optional dependency: pip install 'hold-fast[cluster]' "
                         "(or leave out --ray to run the inputs one after another here)") from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a ray:// or HOST:PORT address, to test that something listens there."""
    rest, default = (address[len("ray://"):], 10001) if address.startswith("ray://") else (address, 6379)
    rest = rest.split("/", 1)[0]
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    host = host.strip("[]")  # [IPv6]:port
    if not host:
        return None
    try:
        return host, int(port) if port else default
    except ValueError:
        raise InputError(f"--ray {address}: expected local, auto, ray://HOST:PORT or HOST:PORT") from None


def connect_ray(address: str):
    """Start (``local``) or join (``auto``, ``ray://HOST:PORT``, ``HOST:PORT``) a Ray runtime;
    an address nothing answers on is one clear error (InputError) before any work."""
    ray = _import_ray()
    kwargs = dict(log_to_driver=False, logging_level=logging.WARNING)
    if address == "local":
        # A private runtime for this command: workers run this Python with this hold-fast,
        # no dashboard, a small object store (rows are small), no usage report.
        package_parent = str(Path(__file__).resolve().parents[2])
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [package_parent, *filter(None, [os.environ.get("PYTHONPATH")])])
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        kwargs.update(object_store_memory=LOCAL_OBJECT_STORE_BYTES, include_dashboard=False)
        # The token-auth notice of a fresh local runtime says nothing actionable here.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
            logging.ERROR)
    elif address != "auto":
        target = _host_port(address)
        if target is not None:
            try:
                socket.create_connection(target, timeout=CONNECT_TIMEOUT_S).close()
            except OSError as exc:
                raise InputError(f"--ray {address}: nothing answers at {target[0]}:{target[1]} "
                                 f"({exc.strerror or exc}); is the Ray head running "
                                 "(`ray start --head`) and the port open?") from None
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"--ray {address}: cannot connect to Ray ({_one_line(exc)})") from None
    return ray


def _ray_slots(ray, threads: int, gpus: int, address: str) -> int:
    """How many tasks the cluster can run at once; an error when no node can run even one."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    most_cpus = max((r.get("CPU", 0) for r in nodes), default=0)
    if most_cpus < threads:
        raise InputError(f"--threads {threads}: no node of the Ray runtime ({address}) has "
                         f"{threads} CPUs (the largest has {most_cpus:g}); lower --threads")
    if gpus and not any(r.get("GPU", 0) >= gpus for r in nodes):
        raise InputError(f"--device cuda: no node of the Ray runtime ({address}) has a GPU")
    return sum(min(int(r.get("CPU", 0) // threads),
                   int(r.get("GPU", 0) // gpus) if gpus else 1 << 30) for r in nodes)


def _ray_error(exc) -> str:
    """One line for a task that Ray could not finish (worker died past its retries, …)."""
    cause = getattr(exc, "cause", None)
    text = _one_line(cause if cause is not None else exc)
    return f"{type(exc).__name__}: {text}"


# --------------------------------------------------------------------------- the batch


def check_output_root(root: Path) -> None:
    """ROOT must be a folder this process can write: checked before any work, and folders the
    check had to create are removed again (the first result creates them for good)."""
    from hold.pipeline.reconstruct import _check_writable

    missing = []
    for folder in (root, *root.parents):
        if folder.exists():
            break
        missing.append(folder)
    if root.exists() and not root.is_dir():
        raise InputError(f"--out {root}: is a file, not a folder")
    _check_writable(root)
    for folder in missing:  # deepest first
        with contextlib.suppress(OSError):
            folder.rmdir()



def run_batch(tasks: list[Task], root: str | os.PathLike, cfg, ray_address: str | None = None,
              retries: int = 2, gpus: int = 0, write=print) -> dict:
    """Run every task (skipping finished ones) and write ROOT/summary.json, summary.csv and
    index.html; returns the summary. ``ray_address`` None runs them here one after another."""
    root = Path(root).absolute()
    threads = cfg.coarse.threads
    check_output_root(root)
    ray = connect_ray(ray_address) if ray_address else None
    try:
        slots = _ray_slots(ray, threads, gpus, ray_address) if ray else 1
        runner = f"Ray {ray_address}, {slots} at a time" if ray else "one after another, in-process"
        info = {"root": str(root), "runner": runner, "threads": threads, "retries": retries}
        rows: dict[str, dict] = {}
        for task in tasks:
            try:
                rows[task.name] = finished_row(task, root)
            except InputError:
                rows[task.name] = None  # the task reports it as its failed row
            if rows[task.name] is not None:
                rows[task.name]["skipped"] = True
        pending = [t for t in tasks if rows[t.name] is None]
        started = time.perf_counter()
        progress = _Progress(len(tasks), slots, write)
        progress.done = len(tasks) - len(pending)

        def current_rows() -> list[dict]:
            return [rows[t.name] or {**_new_row(t), "status": "pending"} for t in tasks]

        def record(row: dict) -> None:
            rows[row["name"]] = row
            write_results(root, current_rows(), {**info, "wall_s": time.perf_counter() - started})
            progress.finished(row)

        write_results(root, current_rows(), {**info, "wall_s": 0.0})
        write(f"batch: {len(tasks)} inputs, {len(tasks) - len(pending)} already done, "
              f"{len(pending)} to run ({runner}; {threads} CPU thread(s) each) → {root}")
        if ray is None:
            for task in pending:
                write(f"batch: running {task.name} ({task.input})")
                record(run_task(task, str(root), cfg))
        else:
            remote = ray.remote(run_task)
            refs = {remote.options(num_cpus=threads, num_gpus=gpus, max_retries=retries,
                                   name=f"hold-fast batch {t.name}").remote(t, str(root), cfg): t
                    for t in pending}
            last_line = time.monotonic()
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=HEARTBEAT_S)
                if not ready:
                    if time.monotonic() - last_line >= HEARTBEAT_S:
                        progress.line()
                        last_line = time.monotonic()
                    continue
                for ref in ready:
                    task = refs.pop(ref)
                    try:
                        row = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        row = {**_new_row(task), "error": _ray_error(exc),
                               "attempts": _attempts(root / task.name)}
                    record(row)
                last_line = time.monotonic()
        final = current_rows()
        info["wall_s"] = time.perf_counter() - started
        write_results(root, final, info)
        return json.loads((root / "summary.json").read_text())
    finally:
        if ray is not None:
            ray.shutdown()


def summary_text(summary: dict, root: Path) -> str:
    """The metrics table (as `hold-fast eval` prints it), the failures, and where it all is."""
    rows = summary["rows"]
    scored = {r["name"]: r["metrics"] for r in rows
              if r["status"] == "done" and r.get("metrics") and set(METRIC_KEYS) <= set(r["metrics"])}
    lines = []
    if scored:
        lines.append(format_table(scored, summary["mean"]))
    for r in rows:
        if r["status"] != "done":
            lines.append(f"failed: {r['name']}: {r['error']}")
    c = summary["counts"]
    lines.append(f"{c['done']} done, {c['failed']} failed of {len(rows)} in "
                 f"{summary['wall_s']:.0f} s; {root / 'summary.json'}, {root / 'index.html'}")
    return "\n".join(lines)


__all__ = ["Task", "connect_ray", "expand_inputs", "finished_row", "plan_tasks", "run_batch",
           "run_task", "summary_text", "write_results"]
