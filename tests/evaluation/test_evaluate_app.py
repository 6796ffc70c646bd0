"""apps/evaluate.py end to end on a small exported encoder (tiny counts), and what it adds
around the metrics: count overrides, the progress bar, strict JSON and the Markdown table."""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfbvae.data.dsprites.ground_truth import DSprites
from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation.metrics import evaluate, get_preset
from tfbvae.evaluation.metrics.presets import apply_overrides
from tfbvae.evaluation.progress import MetricsProgress, expected_encodings
from tfbvae.evaluation.report import markdown_report, strict_json, write_report
from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.networks import build_networks
from tfbvae.serving.export import export_model

REPO = Path(__file__).resolve().parents[2]

# Every metric but DCI: its 113-class x 100-tree boosting costs ~15 s at any sample count, and
# its plumbing is the same as the others'. Tiny counts: the app's plumbing is under test here.
METRICS = ["beta_vae", "factor_vae", "mig", "sap", "modularity", "unsupervised"]
TINY = ["all.num_train=40", "all.num_eval=20", "all.num_test=20",
        "all.num_variance_estimate=100", "all.batch_size=8"]


def evaluate_app(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "apps" / "evaluate.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def strict_loads(text: str):
    def refuse(constant):
        raise ValueError(f"non-JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An untrained Burgess model's export (encoder and decoder, version 1)."""
    model = BetaVAE(*build_networks("burgess", (64, 64, 1), 10), seed=0)
    base = tmp_path_factory.mktemp("exported_models")
    export_model(model, str(base), "untrained", {"step": 0, "data_source": "nothing yet"})
    return base / "untrained"


def serving_mean(encoder_dir):
    """The posterior mean from an encoder SavedModel's ``serving_default`` signature, called
    directly (not through tfbvae's representation code, which the app uses)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(encoder_dir))  # the closure keeps its variables alive
    return lambda images: loaded.signatures["serving_default"](
        images=tf.constant(images, tf.float32))["mean"].numpy()


def test_evaluate_an_exported_encoder_end_to_end(exported, tmp_path):
    result = evaluate_app(f"--model={exported}", "--dsprites_source=rendered", "--seed=3",
                          f"--metrics={','.join(METRICS)}", f"--override={','.join(TINY)}",
                          f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    stem = tmp_path / "metrics_fast_custom_seed3"
    results = strict_loads(stem.with_suffix(".json").read_text())

    assert list(results["metrics"]) == METRICS and list(results["summary"]) == METRICS
    expected_counts = apply_overrides(get_preset("fast"), METRICS, TINY)
    for name in METRICS:
        assert results["metrics"][name]["counts"] == expected_counts[name]
    assert results["metrics"]["beta_vae"]["counts"] == {"batch_size": 8, "num_train": 40, "num_eval": 20}
    # The numbers: the library's evaluate() in this process, on the export's own serving
    # signature, the same counts, seed and images, gives every score the app wrote.
    in_process = evaluate(DSprites("rendered"), serving_mean(exported / "encoder" / "1"), METRICS,
                          expected_counts, seed=3)
    expected, _ = strict_json({name: in_process["metrics"][name]["scores"] for name in METRICS})
    assert {name: results["metrics"][name]["scores"] for name in METRICS} == expected
    assert results["summary"] == strict_json(in_process["summary"])[0]
    assert results["preset"] == "fast" and results["overrides"] == TINY and results["seed"] == 3
    assert results["data_source"].startswith("dsprites-rendered") and results["dataset"] == "dsprites"
    assert results["factor_names"] == ["shape", "scale", "orientation", "posX", "posY"]

    model = results["model"]
    assert model["kind"] == "export" and model["path"] == str(exported)
    assert model["encoder"] == str(exported / "encoder" / "1") and model["version"] == 1
    assert model["step"] == 0 and model["metadata"]["model_name"] == "untrained"
    assert model["saved_model_checksums"]["encoder"].isdigit()
    assert results["model_data_source"] == "nothing yet" and results["warnings"]
    assert "names no training data" in results["heldout"]["skipped"]
    timings = results["timings"]
    assert set(timings) == {"load_model_seconds", "load_data_seconds", "trace_seconds",
                            "metrics_seconds", "heldout_seconds", "total_seconds"}
    assert timings["total_seconds"] >= timings["metrics_seconds"] > 0
    assert {"tensorflow", "scikit-learn", "tfbvae"} <= set(results["versions"])
    for path in results["non_finite_values"]:  # replaced values are null where they were
        where = results
        for key in path.split("."):
            where = where[key]
        assert where is None

    table = stem.with_suffix(".md").read_text()
    assert table in result.stdout
    assert "| metric | headline score | value | other scores | seconds |" in table
    for name in METRICS:
        assert f"| {name} |" in table
    assert "preset: fast with overrides all.num_train=40" in table
    assert "Held-out losses not measured: the model's run record names no training data" in table
    rows = subprocess.run([sys.executable, str(REPO / "apps" / "results_table.py"),
                           str(stem.with_suffix(".json")), f"--output={tmp_path / 'table.md'}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert rows.returncode == 0, rows.stderr
    header, rule, line = rows.stdout.splitlines()
    assert header.startswith("| model | objective | steps | BetaVAE | FactorVAE | MIG | DCI |")
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[0] == "untrained" and cells[2] == "0"
    assert cells[3] == f"{results['summary']['beta_vae']:.3f}" and cells[6] == "–"  # no DCI
    assert cells[8:11] == ["n/a", "n/a", "n/a"] and cells[11] == "fast"  # no run, no held-out
    assert (tmp_path / "table.md").read_text() == rows.stdout
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert [line.split()[1] for line in progress] == METRICS
    assert progress[0].startswith("[1/6] beta_vae") and "eval_accuracy = " in progress[0]


def test_unusable_models_and_flags_are_refused_with_the_fix(exported, tmp_path):
    result = evaluate_app(f"--model={tmp_path / 'missing'}")
    assert result.returncode == 2
    assert "does not exist: pass a training run directory" in result.stderr
    result = evaluate_app(f"--model={exported}", "--metrics=beta_vae,nonsense")
    assert result.returncode == 2 and "unknown metric(s) ['nonsense']" in result.stderr
    result = evaluate_app(f"--model={exported}", "--metrics=mig", "--override=mig.num_eval=3")
    assert result.returncode == 2 and "no selected metric has a count 'num_eval'" in result.stderr


def test_a_decoder_path_evaluates_the_encoder_of_its_export_and_says_so(exported, tmp_path):
    result = evaluate_app(f"--model={exported / 'decoder' / '1'}", "--dsprites_source=rendered",
                          "--metrics=mig", "--override=mig.num_train=50",
                          "--noheldout", "--noprogress", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    encoder = exported / "encoder" / "1"
    assert f"is a decoder; evaluating the encoder of the same export, {encoder}" in result.stderr
    results = strict_loads((tmp_path / "metrics_fast_custom_seed0.json").read_text())
    assert results["model"]["encoder"] == str(encoder)
    assert (tmp_path / "metrics_fast_custom_seed0.md").read_text().startswith(
        f"# Disentanglement of `{encoder}`")
    # One total time, measured once: the app's (the metrics' own is metrics_seconds).
    assert "total_seconds" not in results and results["timings"]["total_seconds"] > 0


def test_overrides_change_the_preset_counts():
    preset = get_preset("fast")
    counts = apply_overrides(preset, ["beta_vae", "dci"], ["dci.num_train=7", "all.num_test=5"])
    assert counts["dci"] == {"num_train": 7, "num_test": 5}
    assert counts["beta_vae"] == dict(preset["beta_vae"])  # it has no num_test
    assert preset["dci"]["num_train"] == 300  # the preset itself is untouched
    for bad, message in [("dci.num_train", "must read <metric>.<count>=<integer>"),
                         ("mig.num_train=5", "not among the metrics evaluated"),
                         ("all.num_tree=5", "no selected metric has a count 'num_tree'"),
                         ("dci.num_train=0", "counts must be positive")]:
        with pytest.raises(ValueError, match=message):
            apply_overrides(preset, ["beta_vae", "dci"], [bad])


def test_progress_counts_the_images_each_metric_encodes():
    names = ["beta_vae", "factor_vae", "mig", "sap", "unsupervised"]
    counts = apply_overrides(get_preset("fast"), names, ["all.num_train=30", "all.num_eval=10",
                                                         "all.num_test=10", "all.batch_size=4",
                                                         "all.num_variance_estimate=50"])
    log = io.StringIO()
    progress = MetricsProgress(names, counts, stream=log)
    evaluate(IdentityObservationsData(), progress.wrap(lambda x: np.asarray(x, np.float32)),
             names, counts, seed=0, on_metric_done=progress.metric_done)
    lines = log.getvalue().splitlines()
    assert len(lines) == len(names)
    for line, name in zip(lines, names):
        assert line.startswith(f"[{names.index(name) + 1}/5] {name}")
        assert line.endswith(f"{expected_encodings(name, counts[name])} images)")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_redraws_a_bar_in_place():
    counts = {"mig": {"num_train": 100}}
    terminal = Terminal()
    progress = MetricsProgress(["mig"], counts, stream=terminal, min_interval_s=0.0)
    encode = progress.wrap(lambda x: x)
    encode(np.zeros((50, 2)))
    assert terminal.getvalue().startswith("\r[1/1] mig") and "50/100 images (encoding)" in terminal.getvalue()
    encode(np.zeros((50, 2)))
    assert "100/100 images (fitting)" in terminal.getvalue()
    progress.metric_done("mig", {"scores": {"discrete_mig": 0.5}, "seconds": 1.0})
    assert terminal.getvalue().endswith("discrete_mig = 0.5000  (1.0s, 100 images)\x1b[K\n")


def test_results_are_strict_json_with_non_finite_values_listed(tmp_path):
    cleaned, replaced = strict_json({"a": [1.0, float("nan")], "b": {"c": np.float32("inf")},
                                     "d": np.int64(3), "e": np.array([0.5])})
    assert cleaned == {"a": [1.0, None], "b": {"c": None}, "d": 3, "e": [0.5]}
    assert replaced == {"a[1]": "nan", "b.c": "inf"}

    results = {"model": {"kind": "run", "path": "runs/x", "step": 7, "version": None},
               "dataset": "dsprites", "data_source": "rendered", "preset": "fast",
               "overrides": [], "seed": 0, "timings": {"total_seconds": 1.5},
               "metrics": {"dci": {"scores": {"disentanglement": float("nan"),
                                              "completeness": 0.25},
                                   "counts": {}, "seconds": 1.0}}}
    json_path, md_path = write_report(results, tmp_path, "metrics")
    written = strict_loads(json_path.read_text())
    assert written["metrics"]["dci"]["scores"]["disentanglement"] is None
    assert written["non_finite_values"] == {"metrics.dci.scores.disentanglement": "nan"}
    assert "null" in written["non_finite_note"]
    table = md_path.read_text()
    assert "| dci | disentanglement | n/a | completeness 0.2500 | 1.0 |" in table
    assert "metrics.dci.scores.disentanglement = nan" in table
    assert table == markdown_report(written)
