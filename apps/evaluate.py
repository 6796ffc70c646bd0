"""Measures the disentanglement of a trained beta-VAE on dSprites.

    python apps/evaluate.py --model=runs/dsprites_capacity                     # a run directory
    python apps/evaluate.py --model=exported_models/dsprites_capacity          # latest export
    python apps/evaluate.py --model=exported_models/dsprites_capacity/encoder/3 --preset=paper

``--model`` is a training run directory (its latest checkpoint, or ``--checkpoint``), an
exported encoder SavedModel ``<base>/<name>/encoder/<version>`` (any SavedModel whose
``serving_default`` maps ``images`` to ``mean`` will do), ``<base>/<name>/encoder`` or an export
``<base>/<name>`` (their latest version). The representation is the posterior mean, as in
disentanglement_lib. Writes ``<output_dir>/metrics_<preset>_seed<seed>.json`` (every score, the
counts, seed, data source, the model's identity and timings, and with ``--heldout`` the
reconstruction and KL on the images the model's run held out; strict JSON: NaN/Inf become null
and are listed under ``non_finite_values``; paths inside this repository are recorded relative
to it) and a ``.md`` table beside it, which is also printed. Given a decoder
(``<base>/<name>/decoder/<version>``), it evaluates the encoder of the same version, names it
in the report and says so: the metrics measure the encoder's representation.

Exit status (a refusal is one ``ERROR:`` line naming the problem and the fix): 0 done; 2 bad
input (a wrong or missing flag, a path that is no model, a run without a checkpoint or with a
damaged ``run.json``, a model that does not take dSprites images, dSprites not available as
asked); 1 failure. Flags are checked before TensorFlow is imported.
"""

from __future__ import annotations

import os
import platform
import sys
import time

import tfbvae  # noqa: F401  (sets TensorFlow's environment before TensorFlow is imported)
from absl import flags

from tfbvae import errors
from tfbvae.cli import app_runner
from tfbvae.cli import model_flags
from tfbvae.data.dsprites.sources import SOURCES as DSPRITES_SOURCES

FLAGS = flags.FLAGS
model_flags.define_model_flags()
flags.DEFINE_enum("dataset", "dsprites", ["dsprites"], "Ground-truth data set of the metrics.")
flags.DEFINE_enum("dsprites_source", "auto", ("auto",) + DSPRITES_SOURCES, "dSprites images: auto (the official .npz when found, else rendered offline), rendered, official (--data_path) or tfds.")
flags.DEFINE_string("data_path", None, "The official dSprites .npz (with --dsprites_source=official or auto).")
flags.DEFINE_string("tfds_data_dir", None, "TensorFlow Datasets' data directory (with --dsprites_source=tfds).")
flags.DEFINE_string("metrics", "all", "Comma-separated metrics (beta_vae, factor_vae, mig, dci, sap, modularity, unsupervised) or 'all'.")
flags.DEFINE_enum("preset", "fast", ["fast", "paper"], "Sample counts: paper (disentanglement_lib's, tens of minutes) or fast (a quick look, about a minute).")
flags.DEFINE_list("override", [], "Changes to the preset's counts, <metric>.<count>=N or all.<count>=N, e.g. dci.num_train=1000 or all.batch_size=16.")
flags.DEFINE_integer("seed", 0, "Seed of every metric's sampling (each metric starts from it).")
flags.DEFINE_string("output_dir", None, "Where the results go (default <run_dir>/evaluation for a run, evaluation/<name>_v<version> for an export).")
flags.DEFINE_integer("batch_size", 256, "Images per encoder call.", lower_bound=1)
flags.DEFINE_boolean("heldout", True, "Also measure reconstruction and KL on the images the model's run held out (its validation split).")
flags.DEFINE_boolean("progress", True, "Show progress on stderr (a bar on a terminal, a line per metric otherwise).")


def default_output_dir(source) -> str:
    """``<run_dir>/evaluation`` for a run; ``evaluation/<name>_v<version>`` for an export."""
    from tfbvae.training import run_dir as run_layout

    name = source.metadata.get("model_name") or source.path.name
    return run_layout.output_dir(run_layout.EVALUATION, source.kind, source.path, name, source.version)


def _decoder_paths(source) -> tuple:
    """The paths that name an export's decoder: its version directory and ``.../decoder``."""
    decoder = source.decoder_dir
    return () if decoder is None else (decoder, decoder.parent)


def result_stem(preset: str, overrides: list[str], seed: int) -> str:
    return f"metrics_{preset}{'_custom' if overrides else ''}_seed{seed}"


def main(argv: list[str]) -> int:
    """Evaluates the model the flags name; refusals reach the user through
    :mod:`tfbvae.cli.app_runner`."""
    import numpy as np

    from tfbvae.evaluation.metrics import evaluate, get_preset, parse_metric_names
    from tfbvae.evaluation.report import MetricsProgress, apply_overrides, write_report
    from tfbvae.trained_model import open_model

    try:
        names = parse_metric_names(FLAGS.metrics)
        counts = apply_overrides(get_preset(FLAGS.preset), names, FLAGS.override)
    except ValueError as err:
        raise errors.BadInput(str(err)) from None

    start = time.perf_counter()
    source = open_model(FLAGS.model, FLAGS.checkpoint)
    identity = source.identity()
    representation_function = source.representation_function(FLAGS.batch_size)
    if source.kind == "export" and source.path in _decoder_paths(source):
        print(f"NOTE: {FLAGS.model} is a decoder; evaluating the encoder of the same export, "
              f"{source.encoder_dir}", file=sys.stderr)
    loaded = time.perf_counter()

    from tfbvae.data.dsprites.ground_truth import DSprites

    try:
        data = DSprites(FLAGS.dsprites_source, FLAGS.data_path, FLAGS.tfds_data_dir)
    except (FileNotFoundError, OSError, RuntimeError, ValueError) as err:
        raise errors.BadInput(
            f"cannot load dSprites ({FLAGS.dsprites_source}): {str(err).rstrip('.')}. Pass "
            "--dsprites_source=rendered (no download needed), or --data_path=<the official "
            "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz>.") from None
    if tuple(source.image_shape) != tuple(data.observation_shape):
        raise errors.BadInput(
            f"{FLAGS.model} takes images shaped {tuple(source.image_shape)}, but "
            f"{FLAGS.dataset} images are {tuple(data.observation_shape)}: evaluate a model "
            "trained on dSprites.")
    data_loaded = time.perf_counter()
    trained_on = source.data_source
    warnings = []
    if trained_on and trained_on != data.source:
        warnings.append(f"the model was trained on {trained_on!r} and is evaluated on "
                        f"{data.source!r}")
        print(f"WARNING: {warnings[-1]}", file=sys.stderr)

    # Trace the encoder once before the clock of the first metric starts.
    representation_function(data.sample_observations(1, np.random.RandomState(0)))
    warmed = time.perf_counter()

    progress = MetricsProgress(names, counts) if FLAGS.progress else None
    if progress is not None:
        representation_function = progress.wrap(representation_function)
    results = evaluate(data, representation_function, names, counts, FLAGS.seed,
                       on_metric_done=progress.metric_done if progress else None)
    metrics_done = time.perf_counter()
    if FLAGS.heldout:
        from tfbvae.evaluation.heldout import heldout_losses

        results["heldout"] = heldout_losses(source, data, FLAGS.seed, FLAGS.batch_size)
        if "skipped" in results["heldout"]:
            print(f"NOTE: no held-out losses: {results['heldout']['skipped']}", file=sys.stderr)
    done = time.perf_counter()

    results.update({
        "preset": FLAGS.preset,
        "overrides": list(FLAGS.override),
        "dataset": FLAGS.dataset,
        "requested_source": FLAGS.dsprites_source,
        "model": identity,
        "model_data_source": trained_on,
        "warnings": warnings,
        "timings": {
            "load_model_seconds": loaded - start,
            "load_data_seconds": data_loaded - loaded,
            "trace_seconds": warmed - data_loaded,
            "metrics_seconds": results.pop("total_seconds"),  # one total: the app's, below
            "heldout_seconds": done - metrics_done,
            "total_seconds": done - start,
        },
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
    })
    import tensorflow as tf

    results["versions"]["tensorflow"] = tf.__version__
    output_dir = FLAGS.output_dir or default_output_dir(source)
    json_path, md_path = write_report(results, output_dir,
                                      result_stem(FLAGS.preset, FLAGS.override, FLAGS.seed))
    print(md_path.read_text())
    print(f"Wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    app_runner.run(main)
