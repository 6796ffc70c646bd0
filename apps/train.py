"""Trains a beta-VAE: ``python apps/train.py --flagfile=dsprites.flags``.

Without flags it trains the dsprites.flags setting (Burgess et al. 2018's controlled capacity
on dSprites, rendered offline when the official file is absent). The run directory
(``--run_dir``, default ``runs/<model_name>``) receives the settings (``flags.txt`` reproduces
the run), TensorBoard logs (``tensorboard --logdir <run_dir>/logs``), checkpoints and, at the
end, the TF Serving export. Running the same command again resumes the run from its newest
checkpoint; a setting that changes the model of the run in that directory is refused.
Exit status (every refusal is one ``ERROR:`` line naming the problem and the fix): 0 done; 2
bad input (a wrong or inconsistent flag, a run directory in use or holding another model, a
damaged ``run.json``, missing data); 1 failure (the loss became NaN/Inf); 130/143 stopped by
Ctrl-C/SIGTERM after saving a checkpoint (run the same command to resume). Flags are checked
before TensorFlow is imported.
"""

from __future__ import annotations

import dataclasses

import tfbvae  # noqa: F401  (sets TensorFlow's environment before TensorFlow is imported)
from absl import flags
from absl import logging as absl_logging

from tfbvae.cli import app_runner
from tfbvae.training import settings as run_settings
from tfbvae.training.settings import Settings

_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_boolean,
           str: flags.DEFINE_string}


def define_flags(fv: flags.FlagValues) -> list[str]:
    """Defines the app's flags on ``fv``, one per :class:`~tfbvae.training.settings.Settings`
    field (its type, default, help and choices), with the settings' checks as validators;
    returns their names. The defaults are dsprites.flags' settings (that file cites their
    sources)."""
    for field in dataclasses.fields(Settings):
        meta = field.metadata
        if meta["choices"] is not None:
            flags.DEFINE_enum(field.name, field.default, meta["choices"], meta["help"], flag_values=fv)
        else:
            kind = run_settings.field_type(field)
            _DEFINE[kind](field.name, field.default, meta["help"], flag_values=fv)
    _register_validators(fv)
    return [field.name for field in dataclasses.fields(Settings)]


def _register_validators(fv: flags.FlagValues) -> None:
    """The settings' checks (:mod:`tfbvae.training.settings`) as flag validators, so that a bad
    flag is refused before TensorFlow is imported."""
    def validator(problem):
        def holds(value) -> bool:
            message = problem(value)
            if message:
                raise flags.ValidationError(message)
            return True
        return holds

    for field in dataclasses.fields(Settings):
        if field.metadata["check"] is not None:
            flags.register_validator(field.name, validator(
                lambda v, name=field.name: run_settings.field_problem(name, v)), flag_values=fv)
    for rule in run_settings.RULES:
        flags.register_multi_flags_validator(list(rule.names), validator(rule.problem), flag_values=fv)
    flags.register_multi_flags_validator(
        list(run_settings.APPLICABILITY_NAMES), validator(lambda values: run_settings.inapplicable_given(
            values, _given(fv, values))), flag_values=fv)


def _given(fv: flags.FlagValues, names) -> list[str]:
    """The flags among ``names`` the user gave: typed on the command line when the app parses
    one (a flagfile's settings may be overridden by a later one's objective: ``--flagfile=
    shapes3d.flags --flagfile=dlib_annealed_vae.flags``), else every flag present."""
    typed = app_runner.typed_flag_names()
    return [name for name in names if fv[name].present and (typed is None or name in typed)]


def settings_from_flags(fv: flags.FlagValues) -> Settings:
    """The run's settings: every app flag's value (``run_dir`` and ``model_name`` derived when
    not given)."""
    return Settings(**{field.name: fv[field.name].value for field in dataclasses.fields(Settings)})


def _main(argv: list[str]) -> int:
    """Trains (or resumes) the run the flags describe; tfbvae's errors reach the user through
    :mod:`tfbvae.cli.app_runner` as one message and an exit status."""
    import logging

    from tfbvae.training import train as training

    # TensorFlow's INFO lines (through absl's logger) are noise here; tfbvae's own stay.
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tfbvae").setLevel(logging.INFO)

    result = training.train(settings_from_flags(FLAGS))
    print(f"Done: {result.run_dir} at step {result.step}.")
    if result.export:
        print(f"Exported: {result.export['encoder']} and {result.export['decoder']}")
    return 0


FLAGS = flags.FlagValues()  # the app's own flags: importing the app defines nothing global
define_flags(FLAGS)
main = app_runner.main_of(_main, FLAGS)  # main(argv) -> exit status, callable from Python

if __name__ == "__main__":
    app_runner.run(_main, FLAGS)
