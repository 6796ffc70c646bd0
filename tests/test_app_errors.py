"""Every app answers a refusal with one ``ERROR:`` message and its exit status, never a
traceback (2: bad input, 1: failure), and a bad flag before TensorFlow is imported.

Each case runs the real app in a fresh process, as a user would.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tfbvae import errors
from tfbvae.training import run_dir as run_layout
from tfbvae.training import run_record

REPO = Path(__file__).resolve().parents[1]
BAD_INPUT, FAILURE = errors.EXIT_BAD_INPUT, errors.EXIT_FAILURE

# Runs an app as __main__ and reports on stderr whether TensorFlow or Keras were imported.
_REPORTING_IMPORTS = textwrap.dedent("""
    import runpy, sys
    sys.argv = sys.argv[1:]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        loaded = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
        print(f"IMPORTED: {loaded}", file=sys.stderr)
""")


def run_app(app: str, *args: str, report_imports: bool = False, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``python apps/<app>.py args`` in a fresh process (its data cache under the test's)."""
    prefix = ["-c", _REPORTING_IMPORTS] if report_imports else []
    return subprocess.run([sys.executable, *prefix, str(REPO / "apps" / f"{app}.py"), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def assert_refused(result: subprocess.CompletedProcess, status: int, message: str) -> str:
    """The app exited with ``status``, printing ``message`` on an ``ERROR:`` line and no
    traceback; returns that line."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-3000:]
    assert result.returncode == status, output[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert message in result.stderr[result.stderr.index("ERROR: "):], result.stderr[-3000:]
    return lines[0]


# -- bad flags: refused with status 2 before TensorFlow is imported --------------------------

@pytest.mark.parametrize("app, args, message", [
    ("train", ["--beta=-1"], "--beta must be >= 0"),
    ("train", ["--nonsense=1"], "Unknown command line flag 'nonsense' (--helpfull lists the flags)"),
    ("train", ["dsprites.flags"], "unexpected arguments ['dsprites.flags']: flags are written --name=value"),
    ("train", ["--flagfile=/nonexistent.flags"], "/nonexistent.flags"),
    ("export", [], "Give exactly one of --run_dir"),
    ("export", ["--run_dir=/"], "--run_dir / is not a training run directory (it has no run.json)"),
    ("evaluate", [], "Flag --model must have a value other than None"),
    ("evaluate", ["--model=/nonexistent"], "--model /nonexistent does not exist: pass a training run directory"),
    ("evaluate", ["--model=/", "--preset=huge"], "value should be one of <fast|paper>"),
    ("visualize", ["--model=/", "--what=traversals,movie"], "--what takes a comma-separated subset"),
    ("visualize", ["--model=/", "--dataset=dsprites", "--dsprites_source=zip"],
     "--data_source=zip is not a source of --dataset=dsprites: choose one of auto, official, rendered, tfds"),
    ("evaluate", ["--model=/", "--data_source=nowhere"], "--data_source=nowhere is not a source of any data set"),
    ("results_table", [], "pass one or more metrics_<preset>_seed<seed>.json files"),
    ("results_table", ["--bogus", "x.json"], "Unknown command line flag 'bogus'"),
])
def test_a_bad_flag_is_refused_before_tensorflow_is_imported(app, args, message):
    result = run_app(app, *args, report_imports=True)
    assert_refused(result, BAD_INPUT, message)
    assert "IMPORTED: []" in result.stderr


# -- run directories that cannot be used ----------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_config):
    """A real 10-step training run (1024 rendered dSprites), its flags and its data cache."""
    from tfbvae.training import train as training

    root = tmp_path_factory.mktemp("trained")
    config = tiny_config(root / "run", root / "data", "--steps=10")
    assert training.train(config).step == 10
    return root / "run", root / "data"


def copy_run(trained, tmp_path):
    """A copy of the trained run directory, to damage."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained[0], run_dir)
    return run_dir


def test_a_second_training_on_a_locked_run_directory_is_refused(trained, tmp_path, tiny_train_args):
    run_dir = copy_run(trained, tmp_path)
    with open(run_dir / ".lock", "w") as lock:  # as a training in another process holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_app("train", *tiny_train_args(run_dir, trained[1], "--steps=20"))
    assert_refused(result, BAD_INPUT, f"Another process is training in {run_dir}")


@pytest.mark.parametrize("content, message", [
    ("{garbage", "run.json is not JSON (Expecting property name"),
    ("[1, 2]", "run.json is not a tfbvae run record (a JSON object with 'format', 'flags' and "
               "'data'; it holds an array)"),
])
@pytest.mark.parametrize("app", ["train", "export", "evaluate", "visualize"])
def test_a_damaged_run_json_is_refused_by_every_app(trained, tmp_path, app, content, message, tiny_train_args):
    run_dir = copy_run(trained, tmp_path)
    (run_dir / run_layout.RUN_FILE).write_text(content)
    args = {
        "train": tiny_train_args(run_dir, trained[1], "--steps=20"),
        "export": [f"--run_dir={run_dir}", f"--export_base={tmp_path / 'exports'}"],
        "evaluate": [f"--model={run_dir}", f"--output_dir={tmp_path / 'out'}"],
        "visualize": [f"--model={run_dir}", f"--output_dir={tmp_path / 'out'}"],
    }[app]
    line = assert_refused(run_app(app, *args), BAD_INPUT, message)
    assert f"--flagfile={run_dir / run_layout.FLAGS_FILE}" in line  # how to carry on
    assert not (tmp_path / "exports").exists() and not (tmp_path / "out").exists()


def test_run_json_deleted_next_to_checkpoints_refuses_a_setting_that_changes_the_model(
        trained, tmp_path, tiny_train_args):
    run_dir = copy_run(trained, tmp_path)
    (run_dir / run_layout.RUN_FILE).unlink()
    result = run_app("train", *tiny_train_args(run_dir, trained[1], "--steps=20", "--latent_dim=4"))
    assert_refused(result, BAD_INPUT, "--latent_dim: the run has 10, the new setting is 4")


@pytest.mark.parametrize("app", ["export", "evaluate"])
def test_a_run_without_a_checkpoint_is_refused(tmp_path, app, data_record, tiny_config):
    config = tiny_config(tmp_path / "run", tmp_path / "data")
    run_record.write_run(config.run_dir, config, data_record("dsprites-rendered (tfbvae renderer v1)"))
    model, output = ("--run_dir", "--export_base") if app == "export" else ("--model", "--output_dir")
    result = run_app(app, f"{model}={tmp_path / 'run'}", f"{output}={tmp_path / 'out'}")
    line = assert_refused(result, BAD_INPUT, f"{tmp_path / 'run'} has no")
    assert "checkpoint" in line and not (tmp_path / "out").exists()


def test_training_that_diverges_is_a_failure(tmp_path, tiny_train_args):
    result = run_app("train", *tiny_train_args(tmp_path / "run", tmp_path / "data", "--steps=20",
                                               "--learning_rate=1e12", "--noexport"))
    assert_refused(result, FAILURE, "became NaN/Inf")


def test_missing_data_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_app("train", "--dataset=image_folder", f"--data_path={tmp_path / 'empty'}",
                     "--likelihood=gaussian", "--channels=3", f"--run_dir={tmp_path / 'run'}",
                     f"--data_dir={tmp_path / 'data'}", "--noprogress")
    assert_refused(result, BAD_INPUT, "Cannot load the 'image_folder' data set")


# -- files that are not what the flag wants -------------------------------------------------

def test_files_of_the_wrong_kind_are_refused(trained, tmp_path):
    run_dir = trained[0]
    (tmp_path / "garbage.keras").write_text("not a zip")
    assert_refused(run_app("export", f"--keras_model={tmp_path / 'garbage.keras'}",
                           f"--export_base={tmp_path / 'out'}"),
                   BAD_INPUT, f"cannot load --keras_model={tmp_path / 'garbage.keras'}")
    (tmp_path / "garbage.npy").write_text("not numpy")
    assert_refused(run_app("export", f"--run_dir={run_dir}", f"--export_base={tmp_path / 'out'}",
                           f"--kl_images={tmp_path / 'garbage.npy'}"),
                   BAD_INPUT, f"cannot read --kl_images={tmp_path / 'garbage.npy'}")
    np.save(tmp_path / "small.npy", np.zeros((3, 32, 32, 1), np.uint8))
    assert_refused(run_app("export", f"--run_dir={run_dir}", f"--export_base={tmp_path / 'out'}",
                           f"--kl_images={tmp_path / 'small.npy'}"),
                   BAD_INPUT, "kl_images must hold the model's images, shaped (n, 64, 64, 1); got "
                              "a batch shaped (3, 32, 32, 1)")
    assert not (tmp_path / "out").exists()
    assert_refused(run_app("visualize", f"--model={run_dir}", f"--images={tmp_path / 'small.npy'}",
                           f"--output_dir={tmp_path / 'pictures'}"),
                   BAD_INPUT, "holds an array shaped (3, 32, 32, 1)")
    assert_refused(run_app("evaluate", f"--model={run_dir}", "--metrics=mig,nonsense"),
                   BAD_INPUT, "unknown metric(s) ['nonsense']")
    assert_refused(run_app("evaluate", f"--model={tmp_path}"),
                   BAD_INPUT, f"--model {tmp_path} is not a model")
    assert_refused(run_app("results_table", str(run_dir / run_layout.RUN_FILE)),
                   BAD_INPUT, "is not a result of apps/evaluate.py (it lacks model, preset, summary)")
    assert_refused(run_app("results_table", str(tmp_path / "none.json")),
                   BAD_INPUT, f"cannot read {tmp_path / 'none.json'}")
