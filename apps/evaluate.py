"""Measures the disentanglement of a trained beta-VAE on a ground-truth data set (by default the
one it trained on: dSprites, a dSprites variant, Shapes3D, SmallNORB, Cars3D or MPI3D).

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
damaged ``run.json``, a model that does not take the data set's images, a data set without
ground-truth factors or not available as asked); 1 failure. Flags are checked before TensorFlow is imported.
"""

from __future__ import annotations

import tfbvae  # noqa: F401  (sets TensorFlow's environment before TensorFlow is imported)
from absl import flags

from tfbvae.cli import app_runner
from tfbvae.cli import data_flags, model_flags

FLAGS = flags.FlagValues()  # the app's own flags: importing the app defines nothing global
model_flags.define_model_flags(FLAGS)
data_flags.define_data_flags(FLAGS, "metrics (a ground-truth data set)")
flags.DEFINE_string("metrics", "all", "Comma-separated metrics (beta_vae, factor_vae, mig, dci, sap, modularity, unsupervised) or 'all'.", flag_values=FLAGS)
flags.DEFINE_enum("preset", "fast", ["fast", "paper"], "Sample counts: paper (disentanglement_lib's, tens of minutes) or fast (a quick look, about a minute).", flag_values=FLAGS)
flags.DEFINE_list("override", [], "Changes to the preset's counts, <metric>.<count>=N or all.<count>=N, e.g. dci.num_train=1000 or all.batch_size=16.", flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "Seed of every metric's sampling (each metric starts from it).", flag_values=FLAGS)
flags.DEFINE_string("output_dir", None, "Where the results go (default <run_dir>/evaluation for a run, evaluation/<name>_v<version> for an export).", flag_values=FLAGS)
flags.DEFINE_integer("batch_size", 256, "Images per encoder call.", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_boolean("heldout", True, "Also measure reconstruction and KL on the images the model's run held out (its validation split).", flag_values=FLAGS)
flags.DEFINE_boolean("progress", True, "Show progress on stderr (a bar on a terminal, a line per metric otherwise).", flag_values=FLAGS)


def default_output_dir(source) -> str:
    """``<run_dir>/evaluation`` for a run; ``evaluation/<name>_v<version>`` for an export."""
    from tfbvae.training import run_dir as run_layout

    name = source.model_name or source.path.name
    return run_layout.output_dir(run_layout.EVALUATION, source.kind, source.path, name, source.version)


def _main(argv: list[str]) -> int:
    """Evaluates the model the flags name and writes the results; refusals reach the user
    through :mod:`tfbvae.cli.app_runner`."""
    from tfbvae.evaluation.model_evaluation import evaluate_model
    from tfbvae.evaluation.report import write_report

    settings = _settings_from_flags()
    evaluation = evaluate_model(settings)
    output_dir = FLAGS.output_dir or default_output_dir(evaluation.source)
    json_path, md_path = write_report(evaluation.results, output_dir, settings.result_stem)
    print(md_path.read_text())
    print(f"Wrote {json_path} and {md_path}")
    return 0


def _settings_from_flags():
    """The evaluation the flags ask for."""
    from tfbvae.evaluation.model_data import DataChoice
    from tfbvae.evaluation.model_evaluation import EvaluationSettings

    return EvaluationSettings(
        model=FLAGS.model, checkpoint=FLAGS.checkpoint, metrics=FLAGS.metrics,
        preset=FLAGS.preset, overrides=tuple(FLAGS.override), seed=FLAGS.seed,
        batch_size=FLAGS.batch_size, heldout=FLAGS.heldout, progress=FLAGS.progress,
        data=DataChoice.from_flags(FLAGS))



main = app_runner.main_of(_main, FLAGS)  # main(argv) -> exit status, callable from Python

if __name__ == "__main__":
    app_runner.run(_main, FLAGS)
