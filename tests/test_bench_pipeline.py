"""Smoke test of benchmarks/bench_pipeline.py: every code path, tiny sizes (no timing checks)."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pipeline.py"


def test_bench_pipeline_tiny_run(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_pipeline", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.main(["--tiny", "--workdir", str(tmp_path), "--json", str(tmp_path / "r.json")])
    assert set(results["pipelines_images_per_second"]) == {
        "dsprites (rendered cache)", "jpeg folder", "celeba-like folder",
    }
    assert all(rate > 0 for rate in results["pipelines_images_per_second"].values())
    assert results["train_images_per_second"] > 0  # measured on the Burgess net
    assert results["dsprites_cache_bytes"] == 2048 * 512 + 128
    epoch = results["dsprites_full_epoch"]
    assert epoch["images"] == 2048 and epoch["peak_rss_mb"] > 0
    assert json.loads((tmp_path / "r.json").read_text())["batch_size"] == 8
