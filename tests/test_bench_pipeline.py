"""Smoke test of benchmarks/bench_pipeline.py: every code path, tiny sizes (no timing checks)."""

import json

import pytest


@pytest.mark.slow  # a benchmark's smoke test: its own command is in benchmarks/README.md
def test_bench_pipeline_tiny_run(tmp_path):
    from benchmarks import bench_pipeline

    results = bench_pipeline.main(["--tiny", "--workdir", str(tmp_path), "--json", str(tmp_path / "r.json")])
    assert set(results["pipelines_images_per_second"]) == {
        "dsprites (rendered cache)", "jpeg folder", "celeba-like folder",
    }
    assert all(rate > 0 for rate in results["pipelines_images_per_second"].values())
    assert results["train_images_per_second"] > 0  # measured on the Burgess net
    assert results["dsprites_cache_bytes"] == 2048 * 512 + 128
    epoch = results["dsprites_full_epoch"]
    assert epoch["images"] == 2048 and epoch["peak_rss_mb"] > 0
    assert json.loads((tmp_path / "r.json").read_text())["batch_size"] == 8
