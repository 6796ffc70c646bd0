"""The evaluate driver, presets and registry."""

import inspect
import json

import numpy as np
import pytest

from tfbvae.data.ground_truth import IdentityObservationsData
from tfbvae.evaluation.metrics import HEADLINE_SCORES, METRICS, PRESETS, evaluate, parse_metric_names

TINY = {
    "beta_vae": {"batch_size": 8, "num_train": 60, "num_eval": 40},
    "factor_vae": {"batch_size": 8, "num_train": 60, "num_eval": 40, "num_variance_estimate": 200},
    "mig": {"num_train": 300},
    "dci": {"num_train": 100, "num_test": 50},
    "sap": {"num_train": 200, "num_test": 100},
    "modularity": {"num_train": 200, "num_test": 100},
    "unsupervised": {"num_train": 200},
}


def test_evaluate_records_scores_counts_seed_source_and_timings_as_json():
    data = IdentityObservationsData((3, 4, 5))
    done = []
    result = evaluate(data, lambda x: x / 4.0, preset=TINY, seed=3,
                      on_metric_done=lambda name, entry: done.append(name))
    assert done == list(METRICS)
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert result["preset"] == "custom" and result["seed"] == 3
    assert result["data_source"] == "IdentityObservationsData"
    assert result["factors_num_values"] == [3, 4, 5]
    for name, entry in result["metrics"].items():
        assert entry["counts"] == TINY[name]
        assert entry["seconds"] >= 0.0
        assert result["summary"][name] == entry["scores"][HEADLINE_SCORES[name]]
    assert result["summary"]["mig"] > 0.9 and result["summary"]["factor_vae"] > 0.9
    assert {"numpy", "scikit-learn", "tfbvae"} <= set(result["versions"])


def test_evaluate_is_reproducible_for_a_seed_and_each_metric_starts_from_it():
    data = IdentityObservationsData((3, 4, 5))

    def noisy(x):  # deterministic for a given number of observations
        return x + np.random.RandomState(len(x)).normal(size=x.shape)

    counts = {name: TINY[name] for name in ("mig", "unsupervised")}
    both = evaluate(data, noisy, ["mig", "unsupervised"], preset=counts, seed=1)
    alone = evaluate(data, noisy, ["unsupervised"], preset=counts, seed=1)
    assert both["metrics"]["unsupervised"]["scores"] == alone["metrics"]["unsupervised"]["scores"]
    other_seed = evaluate(data, noisy, ["unsupervised"], preset=counts, seed=2)
    scores = alone["metrics"]["unsupervised"]["scores"]
    assert other_seed["metrics"]["unsupervised"]["scores"] != scores


def test_paper_preset_is_every_metric_functions_defaults():
    # The functions' defaults are disentanglement_lib's unsupervised_study_v1 counts.
    for name, counts in PRESETS["paper"].items():
        parameters = inspect.signature(METRICS[name]).parameters
        assert {key: parameters[key].default for key in counts} == counts
    assert PRESETS["paper"]["factor_vae"] == {
        "batch_size": 64, "num_train": 10000, "num_eval": 5000, "num_variance_estimate": 10000}
    assert inspect.signature(METRICS["factor_vae"]).parameters["prune_threshold"].default == 0.05
    for name in ("mig", "modularity", "unsupervised"):
        assert inspect.signature(METRICS[name]).parameters["num_bins"].default == 20
    # disentanglement_lib's compute_mig, compute_sap, compute_dci, compute_modularity_explicitness
    # and unsupervised_metrics sample in batches of 16 by default (it sets the random stream).
    for name in ("mig", "sap", "dci", "modularity", "unsupervised"):
        assert inspect.signature(METRICS[name]).parameters["batch_size"].default == 16
    assert inspect.signature(METRICS["sap"]).parameters["continuous_factors"].default is False


def test_fast_preset_covers_every_metric_with_no_more_samples_than_paper():
    assert set(PRESETS["fast"]) == set(PRESETS["paper"]) == set(METRICS)
    for name, counts in PRESETS["fast"].items():
        assert counts.keys() == PRESETS["paper"][name].keys()
        assert all(counts[key] <= PRESETS["paper"][name][key] for key in counts)


def test_metric_names_and_presets_are_checked():
    assert parse_metric_names("beta_vae, dci") == ["beta_vae", "dci"]
    assert parse_metric_names("all") == list(METRICS)
    with pytest.raises(ValueError, match="unknown metric"):
        parse_metric_names("beta_vae,irs")
    data = IdentityObservationsData((3, 4))
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(data, lambda x: x, ["nope"])
    with pytest.raises(ValueError, match="unknown metrics preset"):
        evaluate(data, lambda x: x, ["mig"], preset="slow")
    with pytest.raises(ValueError, match="gives no counts for"):
        evaluate(data, lambda x: x, ["mig", "dci"], preset={"mig": {"num_train": 100}})
