"""A Markdown table of evaluation results, one row per model: what the README's results show.

    python apps/results_table.py runs/*/evaluation/metrics_paper_seed0.json

Each argument is a ``metrics_<preset>_seed<seed>.json`` that ``apps/evaluate.py`` wrote. A row
gives the model, its objective, training steps, the headline score of each metric, the held-out
reconstruction and KL (nats per image), the training time from the run's TensorBoard logs (first
to last event, when the run directory is there) and the preset.

Exit status (a refusal is one ``ERROR:`` line naming the problem and the fix): 0 done; 2 bad
input (no file given, a file that cannot be read or is not a result of ``apps/evaluate.py``).
"""

from __future__ import annotations

from absl import flags

from tfbvae import files
from tfbvae.cli import app_runner

FLAGS = flags.FlagValues()  # the app's own flags: importing the app defines nothing global
flags.DEFINE_string("output", None, "Also write the table to this file.", flag_values=FLAGS)


def _main(argv: list[str]) -> int:
    """Prints (and with --output writes) the table of the result files given as arguments."""
    from tfbvae.study.results_table import results_table

    text = results_table(argv[1:])
    print(text, end="")
    if FLAGS.output:
        files.write_text_atomically(FLAGS.output, text)
    return 0



main = app_runner.main_of(_main, FLAGS, takes_arguments=True)  # main(argv) -> exit status, callable from Python

if __name__ == "__main__":
    app_runner.run(_main, FLAGS, takes_arguments=True)
