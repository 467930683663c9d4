"""How the whole pipeline's cost grows with the video: `hold-fast synth` renders the same object
and seed at several lengths, `hold-fast reconstruct VIDEO` runs on each (a fresh process, so its
peak memory is its own), and the stage times, the peak memory and the metrics go to a JSON file,
a Markdown table and a plot of time against frames (docs/PERFORMANCE.md).

    python tools/scaling.py OUT --frames 48 150 300 --size 640 360
    python tools/scaling.py OUT --frames 48 --size 256 256 --preset fast   # one preset's row

Videos already rendered in OUT are reused; runs are redone (delete nothing by hand).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PREPROCESS_STAGES = ("decode", "keypoints", "hand_ik", "masks", "object_poses")
ENGINE_STAGES = ("setup", "coarse", "refine", "final", "export", "report")


def run_one(out: Path, frames: int, size: tuple[int, int], obj: str, seed: int, preset: str,
            threads: int) -> dict:
    seq = out / f"synth_{frames}_{size[0]}x{size[1]}"
    if not (seq / "video.mp4").is_file():
        subprocess.run([sys.executable, "-m", "hold.cli", "synth", str(seq), "--object", obj, "--seed", str(seed),
                        "--frames", str(frames), "--size", str(size[0]), str(size[1])],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = out / f"run_{frames}_{size[0]}x{size[1]}_{preset}"
    shutil.rmtree(result, ignore_errors=True)
    command = [sys.executable, "-m", "hold.cli", "reconstruct", str(seq / "video.mp4"), "--out", str(result),
               "--threads", str(threads)] + ([f"--{preset}"] if preset != "default" else [])
    start = time.perf_counter()
    with open(out / f"{result.name}.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed (see {out / (result.name + '.log')})")
    front = json.loads((result / "sequence" / "debug" / "summary.json").read_text())
    engine = json.loads((result / "summary.json").read_text())
    metrics = engine.get("metrics", {})
    return {
        "frames": frames, "size": list(size), "preset": preset, "threads": threads, "wall_s": round(wall, 1),
        "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2),
        "preprocess_s": {k: round(front["timings_s"].get(k, 0.0), 1) for k in PREPROCESS_STAGES + ("total",)},
        "engine_s": {k: round(engine["timings_s"].get(k, 0.0), 1) for k in ENGINE_STAGES},
        "hand_found": front.get("hand_found_fraction"), "object_poses": front.get("object_pose_provenance"),
        "metrics": {k: round(metrics[k], 2) for k in ("mpjpe_mm", "cd_cm2", "f10_percent", "cd_h_cm2") if k in metrics},
    }


def table(rows: list[dict]) -> str:
    head = ["frames", "size", "preset", "wall"] + [f"pre: {s}" for s in PREPROCESS_STAGES] + list(ENGINE_STAGES) \
        + ["peak GB", "MPJPE", "CD", "F10", "CD_h"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        m = r["metrics"]
        cells = [r["frames"], f"{r['size'][0]}×{r['size'][1]}", r["preset"], f"{r['wall_s'] / 60:.1f} min"] \
            + [f"{r['preprocess_s'][s]:.0f}" for s in PREPROCESS_STAGES] + [f"{r['engine_s'][s]:.0f}" for s in ENGINE_STAGES] \
            + [f"{r['peak_rss_gb']:.1f}"] + [f"{m.get(k, float('nan')):.2f}" for k in ("mpjpe_mm", "cd_cm2", "f10_percent", "cd_h_cm2")]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Stacked stage times (s) against frames; needs matplotlib (skipped without it)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    rows = sorted(rows, key=lambda r: r["frames"])
    frames = [r["frames"] for r in rows]
    groups = {"front-end: keypoints": ["decode", "keypoints"], "front-end: IK": ["hand_ik"],
              "front-end: masks": ["masks"], "front-end: SfM + refit": ["object_poses"]}
    stacks = {name: [sum(r["preprocess_s"][k] for k in keys) for r in rows] for name, keys in groups.items()}
    stacks["front-end: other"] = [r["preprocess_s"]["total"] - sum(r["preprocess_s"][k] for k in PREPROCESS_STAGES)
                                  for r in rows]
    for stage in ENGINE_STAGES:
        stacks[f"engine: {stage}"] = [r["engine_s"][stage] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.stackplot(frames, [[v / 60 for v in values] for values in stacks.values()], labels=list(stacks),
                 colors=plt.cm.tab20.colors[:len(stacks)])
    ax.plot(frames, [r["wall_s"] / 60 for r in rows], "k.-", label="wall (with start-up, scoring)")
    ax.axhline(10, color="r", lw=0.8, ls="--")
    ax.set_xlabel("frames (640×360 video)" if rows[0]["size"] == [640, 360] else "frames")
    ax.set_ylabel("minutes on 2 CPU cores")
    ax.set_xlim(min(frames), max(frames))
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    ax.set_title("hold-fast reconstruct VIDEO: time by stage")
    fig.tight_layout()
    fig.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--frames", type=int, nargs="+", default=[48, 150, 300])
    parser.add_argument("--size", type=int, nargs=2, default=[640, 360], metavar=("W", "H"))
    parser.add_argument("--object", default="035_power_drill")
    parser.add_argument("--seed", type=int, default=35)
    parser.add_argument("--preset", choices=["fast", "default", "quality"], default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--plot", type=Path, help="write the plot here (default OUT/scaling.png)")
    parser.add_argument("--replot", action="store_true", help="run nothing: table and plot from OUT/scaling.json")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / "scaling.json"
    rows = json.loads(rows_path.read_text()) if rows_path.is_file() else []
    for frames in [] if args.replot else args.frames:
        row = run_one(args.out, frames, tuple(args.size), args.object, args.seed, args.preset, args.threads)
        rows = [r for r in rows if (r["frames"], r["size"], r["preset"]) != (row["frames"], row["size"], row["preset"])]
        rows.append(row)
        rows_path.write_text(json.dumps(rows, indent=1))
        print(table([row]).splitlines()[-1], flush=True)
    print(table(rows))
    same = [r for r in rows if r["size"] == list(args.size) and r["preset"] == args.preset]
    if len(same) > 1:
        plot(same, args.plot or args.out / "scaling.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
