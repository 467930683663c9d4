"""`hold-fast bench`: the rows it measures, its JSON, the CUDA option's checks and the timer."""

import json
import time

import pytest
import torch

from hold.bench import hashgrid as hashgrid_bench
from hold.bench.suite import run_suite
from hold.bench.timing import median_seconds
from hold.cli.main import main
from tests.conftest import requires_native


def test_median_seconds_times_what_it_runs():
    assert 0.009 < median_seconds(lambda: time.sleep(0.01), repeats=3, warmup=0) < 0.05


@requires_native
def test_hashgrid_rows_count_the_workload_and_beat_the_reference():
    rows = hashgrid_bench.run(n_points=1 << 14, repeats=3, ref_repeats=1)
    assert [r.name for r in rows] == ["hashgrid forward", "hashgrid forward+backward"]
    assert all(r.count == 1 << 14 and r.unit == "samples" and "cpu" in r.workload for r in rows)
    # The compiled kernel is ~15-20x the reference on 2 threads; 2x leaves room for noise.
    assert all(r.speedup > 2 for r in rows)


@requires_native
def test_bench_json_lists_the_rows(capsys, monkeypatch):
    original = hashgrid_bench.run  # the CLI's workload, shrunk to keep the test short
    monkeypatch.setattr(hashgrid_bench, "run", lambda **kw: original(n_points=1 << 12, **kw))
    assert main(["bench", "hashgrid", "--quick", "--json", "-"]) == 0
    out = capsys.readouterr().out
    payload = json.loads(out[out.index("{"):])
    assert payload["device"] == "cpu" and payload["threads"] == 2
    assert [r["name"] for r in payload["rows"]] == ["hashgrid forward", "hashgrid forward+backward"]
    assert all(r["ours_per_s"] > 0 and r["speedup"] > 0 for r in payload["rows"])



def test_cuda_suite_names_the_cpu_only_benchmarks():
    with pytest.raises(ValueError, match=r"\['render'\] run on the CPU only"):
        run_suite(["render", "hashgrid"], device="cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_bench_device_cuda_without_a_gpu_says_so(capsys):
    assert main(["bench", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hold-fast bench: error: --device cuda") and "\n" not in err


def test_a_row_without_a_reference_prints_its_rate_and_no_ratio():
    from hold.bench.timing import BenchRow, format_table

    row = BenchRow("end to end", "48 frames", "frames", 48, 240.0, None)
    assert row.speedup is None and row.as_dict()["reference_per_s"] is None
    line = format_table([row]).splitlines()[2]
    assert "0.200 frames/s" in line and "x" not in line.split("frames/s")[1].split("48")[0]
