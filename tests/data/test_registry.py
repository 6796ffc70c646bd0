"""The data-set registry: every --dataset name has its module, facts and flagfile, and the
pipeline, settings and metrics reach each data set through it."""

import ast
from pathlib import Path

import pytest

from tfbvae import names
from tfbvae.data import datasets
from tfbvae.training.settings import Settings

REPO = Path(__file__).resolve().parents[2]
GROUND_TRUTH = ("dsprites", "dsprites_noshape", "color_dsprites", "noisy_dsprites",
                "scream_dsprites", "shapes3d", "smallnorb", "cars3d", "mpi3d_toy",
                "mpi3d_realistic", "mpi3d_real")


def test_every_name_has_its_data_set():
    assert tuple(datasets.MODULES) == names.DATASETS
    for name in names.DATASETS:
        data = datasets.get(name)
        assert data.name == name and data.title and data.summary and data.flags
        assert data.channels in (1, 3, None) and "auto" not in data.sources
        assert data.has_factors == (name in GROUND_TRUTH), name
    with pytest.raises(ValueError, match="unknown dataset 'mnist': expected one of dsprites, "):
        datasets.get("mnist")


@pytest.mark.parametrize("name", names.DATASETS)
def test_a_settings_record_accepts_each_data_set_with_its_channels(name):
    data = datasets.get(name)
    channels = data.channels or 3
    likelihood = "bernoulli" if data.has_factors else "gaussian"
    settings = Settings(dataset=name, channels=channels, likelihood=likelihood,
                        data_path="somewhere" if data.needs_path else None)
    assert settings.model_name == f"{name}_capacity"
    if data.channels is not None:
        with pytest.raises(ValueError, match=f"use --channels={data.channels} with --dataset={name}"):
            Settings(dataset=name, channels=4 - data.channels, likelihood="gaussian",
                     data_path="somewhere")


def test_the_data_set_flagfile_of_each_ground_truth_data_set_names_it():
    """One <name>.flags per ground-truth data set (the MPI3D variants share mpi3d.flags, which
    trains mpi3d_toy, the one disentanglement_lib downloads; dSprites' own is dsprites.flags)."""
    for name in GROUND_TRUTH:
        flagfile = "mpi3d" if name.startswith("mpi3d") else name
        lines = (REPO / f"{flagfile}.flags").read_text().splitlines()
        named = [line.removeprefix("--dataset=") for line in lines if line.startswith("--dataset=")]
        assert named == ["mpi3d_toy" if flagfile == "mpi3d" else name], flagfile


def test_the_pipeline_training_and_metrics_name_no_data_set():
    """They dispatch through the registry: no data-set name appears as a string in them."""
    for module in ("data/pipeline.py", "training/train.py", "evaluation/model_evaluation.py",
                   "evaluation/model_pictures.py", "evaluation/heldout.py",
                   "evaluation/model_data.py"):
        tree = ast.parse((REPO / "tfbvae" / module).read_text())
        strings = {node.value for node in ast.walk(tree)
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        assert not strings & set(names.DATASETS) - {"dsprites"}, module
        if module != "evaluation/model_data.py":  # its DEFAULT_DATASET: a model without a record
            assert "dsprites" not in strings, module
