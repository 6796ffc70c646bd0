"""Exports a trained beta-VAE for TensorFlow Serving: encoder and decoder SavedModels.

    python apps/export.py --run_dir=runs/dsprites                 # latest checkpoint of a run
    python apps/export.py --keras_model=model.keras --model_name=dsprites_capacity

Writes the next version of ``<export_base>/<model_name>/encoder/`` and ``.../decoder/``, their
metadata (``assets.extra/tfbvae_metadata.json``) and ``<export_base>/models.config``, then
prints the ``tensorflow_model_server`` command that serves them. See
``exported_models/README.md``. ``--export_base`` is the flag of the same name of
``apps/train.py`` (``--base_dir`` is its old name, still accepted).

Exit status (a refusal is one ``ERROR:`` line naming the problem and the fix): 0 exported; 2 bad
input (a wrong or missing flag, a directory that is not a training run, a run without a
checkpoint or with a damaged ``run.json``, a file that is not a .keras model or a .npy of
images); 1 failure. Flags are checked before TensorFlow is imported.
"""

from __future__ import annotations

import json
import os

import tfbvae  # noqa: F401  (sets TensorFlow's environment before TensorFlow is imported)
from absl import flags

from tfbvae import errors
from tfbvae.cli import app_runner
from tfbvae.cli import model_flags
from tfbvae.serving.models_config import MODEL_NAME_PATTERN
from tfbvae.training import run_dir as run_layout

FLAGS = flags.FlagValues()  # the app's own flags: importing the app defines nothing global
flags.DEFINE_string("run_dir", None, "Training run directory: exports its latest checkpoint.", flag_values=FLAGS)
flags.DEFINE_string("checkpoint", None, "With --run_dir: a checkpoint of the run (.../ckpt-<step>) instead of the latest.", flag_values=FLAGS)
flags.DEFINE_string("keras_model", None, "A .keras file of a tfbvae BetaVAE (model.save(...)).", flag_values=FLAGS)
flags.DEFINE_string("export_base", run_layout.EXPORTS, "Root of the export tree (TensorFlow Serving's base path).", flag_values=FLAGS)
flags.DEFINE_alias("base_dir", "export_base", flag_values=FLAGS)  # its name before it matched apps/train.py's
flags.DEFINE_string(
    "model_name", None,
    "Served model name: <model_name>_encoder / _decoder. Default: <dataset>_<objective> of the "
    "run, or the .keras file's name.",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "kl_images", None,
    "A .npy of images (n, H, W, C), uint8 0..255 or float in [0, 1], on which the per-dimension "
    "KL stored in the metadata is measured.",
    flag_values=FLAGS,
)
flags.DEFINE_list(
    "crop", None,
    "Centre crop of encode_image_bytes before the resize: SIDE or HEIGHT,WIDTH. Default: the "
    "run's data set crop (CelebA: 148), else the largest centred square.",
    flag_values=FLAGS,
)


def _one_source(values: dict) -> bool:
    return bool(values["run_dir"]) != bool(values["keras_model"])


flags.register_multi_flags_validator(
    ["run_dir", "keras_model"], _one_source,
    message="Give exactly one of --run_dir (a training run directory) or --keras_model (a .keras file).",
    flag_values=FLAGS,
)
flags.register_validator("run_dir", model_flags.check_run_dir, flag_values=FLAGS)
flags.register_validator(
    "keras_model", lambda v: v is None or (v.endswith(".keras") and os.path.isfile(v)),
    message="--keras_model must be an existing .keras file (saved with model.save('name.keras')).",
    flag_values=FLAGS,
)
flags.register_validator(
    "kl_images", lambda v: v is None or (v.endswith(".npy") and os.path.isfile(v)),
    message="--kl_images must be an existing .npy file of images shaped (n, H, W, C).",
    flag_values=FLAGS,
)
flags.register_validator(
    "model_name", lambda v: v is None or MODEL_NAME_PATTERN.fullmatch(v) is not None,
    message="--model_name must be letters, digits, '_', '.' or '-' (it names a directory and a URL), e.g. dsprites_capacity.",
    flag_values=FLAGS,
)
flags.register_validator(
    "crop", lambda v: v is None or (len(v) in (1, 2) and all(s.strip().isdigit() and int(s) > 0 for s in v)),
    message="--crop must be SIDE or HEIGHT,WIDTH in pixels, e.g. --crop=148.",
    flag_values=FLAGS,
)


def load(run_dir: str | None, keras_model: str | None) -> tuple:
    """``(model, run facts, default model name)`` from a run directory or a .keras file; the
    facts are a :class:`tfbvae.training.run_record.RunFacts`."""
    from tfbvae.training.run_record import RunFacts

    if run_dir:
        import dataclasses
        from pathlib import Path

        from tfbvae.trained_model import RunModel

        source = RunModel(Path(run_dir), FLAGS.checkpoint)
        # Without --kl_images the metadata's KL per dimension is the training KL the run
        # logged at the checkpoint's step (None when its logs are gone).
        kl, kl_source = source.recorded_kl_per_dim()
        facts = dataclasses.replace(source.run, kl_per_dim=None if kl is None else tuple(float(v) for v in kl),
                                    kl_per_dim_source=kl_source)
        return source.model, facts, facts.model_name
    import keras

    import tfbvae.model.beta_vae  # registers BetaVAE for deserialisation

    try:
        model = keras.saving.load_model(keras_model)
    except (OSError, ValueError, TypeError) as err:
        raise errors.BadInput(
            f"cannot load --keras_model={keras_model}: {str(err).rstrip('.')}. Pass a .keras "
            "file of a tfbvae BetaVAE (model.save('name.keras')).") from None
    if not isinstance(model, tfbvae.model.beta_vae.BetaVAE):
        raise errors.BadInput(f"--keras_model={keras_model} holds a {type(model).__name__}, not "
                              "a tfbvae BetaVAE: export one saved with BetaVAE.save('name.keras').")
    optimizer = getattr(model, "optimizer", None)
    facts = RunFacts(source=os.path.abspath(keras_model), latent_dim=int(model.latent_dim),
                     step=None if optimizer is None else int(optimizer.iterations.numpy()))
    name = os.path.splitext(os.path.basename(keras_model))[0]
    return model, facts, name


def _main(argv: list[str]) -> None:
    """Exports the model the flags name; refusals reach the user through
    :mod:`tfbvae.cli.app_runner`."""
    import numpy as np

    from tfbvae.serving.export import export_model

    model, facts, default_name = load(FLAGS.run_dir, FLAGS.keras_model)
    model_name = FLAGS.model_name or default_name  # export_model refuses one a URL cannot hold
    try:
        kl_images = np.load(FLAGS.kl_images, mmap_mode="r") if FLAGS.kl_images else None
    except (OSError, ValueError) as err:
        raise errors.BadInput(
            f"cannot read --kl_images={FLAGS.kl_images}: {str(err).rstrip('.')}. Pass a .npy "
            "written by numpy.save of images shaped (n, H, W, C).") from None
    crop = [int(s) for s in FLAGS.crop] if FLAGS.crop else None
    crop = crop[0] if crop and len(crop) == 1 else crop
    if crop is None:
        from tfbvae.data.pipeline import image_crop

        crop = image_crop(facts.settings.dataset if facts.settings else "")
    written = export_model(model, FLAGS.export_base, model_name, facts.to_json(), kl_images=kl_images, crop=crop)
    print(json.dumps(written, indent=2))
    print(
        "Serve with:\n  tensorflow_model_server --port=8500 --rest_api_port=8501 "
        f"--model_config_file={written['models_config']} --model_config_file_poll_wait_seconds=60"
    )



main = app_runner.main_of(_main, FLAGS)  # main(argv) -> exit status, callable from Python

if __name__ == "__main__":
    flags.FLAGS.set_default("verbosity", -1)  # WARNING: TensorFlow's save logs hide the result
    app_runner.run(_main, FLAGS)
