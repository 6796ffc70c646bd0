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

import tfbvae  # noqa: F401  (sets TensorFlow's environment before TensorFlow is imported)
from absl import flags
from absl import logging as absl_logging

from tfbvae.cli import app_runner
from tfbvae.cli.names import DATASETS, LIKELIHOODS, NETWORKS, OBJECTIVES, STRATEGIES
from tfbvae.data import celeba
from tfbvae.data.dsprites import sources as dsprites_sources
from tfbvae.training import config as run_config

INTERVAL_FLAGS = ("checkpoint_every", "image_every", "validate_every")
DATA_SOURCES = {"dsprites": dsprites_sources.SOURCES, "celeba": celeba.SOURCES}


def define_flags(fv: flags.FlagValues) -> list[str]:
    """Defines the app's flags and validators on ``fv``; returns their names.

    The defaults are dsprites.flags' settings (that file cites their sources).
    """
    before = set(fv)
    # -- data --
    flags.DEFINE_enum("dataset", "dsprites", DATASETS, "Data set (image_folder: any tree of images, e.g. 3D chairs).", flag_values=fv)
    flags.DEFINE_string("data_source", "auto", "dsprites: auto|rendered|official|tfds (auto: the official .npz when found, else rendered offline). celeba: auto|tfds|zip|folder (auto: --data_path's zip or folder, else tfds' prepared copy; only tfds downloads). image_folder: auto.", flag_values=fv)
    flags.DEFINE_string("data_path", None, "The official dSprites .npz, CelebA's img_align_celeba.zip or folder, or the image folder.", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "tfbvae's data cache (default $TFBVAE_DATA_DIR or ~/.cache/tfbvae).", flag_values=fv)
    flags.DEFINE_string("tfds_data_dir", None, "TensorFlow Datasets' data directory (default: tfds' own).", flag_values=fv)
    flags.DEFINE_string("tfds_manual_dir", None, "tfds' manual-download directory (CelebA when Google Drive refuses the download).", flag_values=fv)
    flags.DEFINE_integer("dsprites_num_images", 0, "Use only the first N rendered dSprites images (a multiple of 1024; 0 = all 737,280): quick trials and tests.", flag_values=fv)
    flags.DEFINE_enum("on_bad_image", "raise", ["raise", "skip"], "An undecodable image file: stop naming it, or skip it with a warning.", flag_values=fv)
    flags.DEFINE_integer("image_size", 64, "Image height and width (the paper networks take 64).", flag_values=fv)
    flags.DEFINE_integer("channels", 1, "Image channels: 1 (grey, dSprites) or 3 (RGB).", flag_values=fv)
    flags.DEFINE_float("validation_fraction", 0.01, "Fraction of the images held out for validation (fixed by --seed).", flag_values=fv)
    flags.DEFINE_integer("validation_steps", 20, "Validation batches per validation (0: all held-out images).", flag_values=fv)
    # -- model --
    flags.DEFINE_enum("network", "burgess", NETWORKS, "Encoder/decoder architecture.", flag_values=fv)
    flags.DEFINE_integer("latent_dim", 10, "Number of latent dimensions z.", flag_values=fv)
    flags.DEFINE_enum("likelihood", "bernoulli", LIKELIHOODS, "p(x|z): bernoulli (binary images) or gaussian (fixed sigma).", flag_values=fv)
    flags.DEFINE_float("gaussian_sigma", 1.0, "Sigma of the gaussian likelihood.", flag_values=fv)
    flags.DEFINE_enum("objective", "capacity", OBJECTIVES, "beta: recon + beta*KL; capacity: recon + gamma*|KL - C|; hinge: recon + gamma*max(0, KL - C).", flag_values=fv)
    flags.DEFINE_float("beta", 1.0, "beta of the beta objective (1: the plain VAE).", flag_values=fv)
    flags.DEFINE_float("gamma", 1000.0, "gamma of the capacity and hinge objectives.", flag_values=fv)
    flags.DEFINE_float("c_max", 25.0, "Capacity C reached at --c_stop_steps, in nats.", flag_values=fv)
    flags.DEFINE_integer("c_stop_steps", 100000, "Steps over which C rises linearly from 0 to --c_max.", flag_values=fv)
    # -- optimisation --
    flags.DEFINE_float("learning_rate", 5e-4, "Adam learning rate.", flag_values=fv)
    flags.DEFINE_float("adam_beta1", 0.9, "Adam beta_1.", flag_values=fv)
    flags.DEFINE_float("adam_beta2", 0.999, "Adam beta_2.", flag_values=fv)
    flags.DEFINE_float("adam_epsilon", 1e-8, "Adam epsilon.", flag_values=fv)
    flags.DEFINE_integer("batch_size", 64, "Global batch size (split across replicas).", flag_values=fv)
    flags.DEFINE_integer("steps", 100000, "Training steps in all (a resumed run stops here too).", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed of the weights, the noise, the data split and the data order.", flag_values=fv)
    flags.DEFINE_boolean("jit_compile", False, "Compile the train step with XLA (measured slower on CPUs; try it on GPUs).", flag_values=fv)
    # -- logging, checkpoints, output --
    flags.DEFINE_integer("log_every", 100, "Steps per logging interval (TensorBoard scalars; a Keras epoch).", flag_values=fv)
    flags.DEFINE_integer("checkpoint_every", 5000, "Steps between checkpoints (a multiple of --log_every).", flag_values=fv)
    flags.DEFINE_integer("image_every", 5000, "Steps between TensorBoard pictures (a multiple of --log_every).", flag_values=fv)
    flags.DEFINE_integer("validate_every", 1000, "Steps between validations (a multiple of --log_every).", flag_values=fv)
    flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept (older ones are deleted).", flag_values=fv)
    flags.DEFINE_string("run_dir", None, "The run directory (default runs/<model_name>); an existing run there is resumed.", flag_values=fv)
    flags.DEFINE_boolean("export", True, "Export encoder and decoder SavedModels at the end.", flag_values=fv)
    flags.DEFINE_string("export_base", None, "Export base directory (default <run_dir>/exported_models).", flag_values=fv)
    flags.DEFINE_string("model_name", None, "Exported model name (default <dataset>_<objective>).", flag_values=fv)
    flags.DEFINE_boolean("progress", True, "Show the progress bar.", flag_values=fv)
    # -- distribution --
    flags.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy: default (one device), mirrored (this machine's GPUs), multi_worker (TF_CONFIG), tpu.", flag_values=fv)
    flags.DEFINE_string("tpu", None, "With --strategy=tpu: the TPU's name or grpc:// address (empty: local).", flag_values=fv)
    names = sorted(set(fv) - before)
    _register_validators(fv)
    return names


def _register_validators(fv: flags.FlagValues) -> None:
    def check(name: str, ok, message: str) -> None:
        flags.register_validator(name, ok, message=message, flag_values=fv)

    check("beta", lambda v: v >= 0, "--beta must be >= 0: it weighs the KL term (1: the plain VAE; Higgins et al. use 4 on dSprites).")
    check("gamma", lambda v: v >= 0, "--gamma must be >= 0 (Burgess et al. use 1000).")
    check("c_max", lambda v: v >= 0, "--c_max must be >= 0 nats (Burgess et al. use 25 on dSprites).")
    check("c_stop_steps", lambda v: v >= 0, "--c_stop_steps must be >= 0 (0: C = --c_max from the first step).")
    check("latent_dim", lambda v: v >= 1, "--latent_dim must be >= 1 (10 on dSprites).")
    check("gaussian_sigma", lambda v: v > 0, "--gaussian_sigma must be > 0.")
    check("learning_rate", lambda v: v > 0, "--learning_rate must be > 0 (5e-4 in Burgess et al.).")
    check("adam_beta1", lambda v: 0 <= v < 1, "--adam_beta1 must be in [0, 1) (default 0.9).")
    check("adam_beta2", lambda v: 0 <= v < 1, "--adam_beta2 must be in [0, 1) (default 0.999).")
    check("adam_epsilon", lambda v: v > 0, "--adam_epsilon must be > 0 (default 1e-8).")
    check("batch_size", lambda v: v >= 1, "--batch_size must be >= 1 (64 in the papers).")
    check("steps", lambda v: v >= 1, "--steps must be >= 1.")
    check("image_size", lambda v: v == 64, "--image_size must be 64: the paper networks take 64x64 images (the pipelines resize to it).")
    check("channels", lambda v: v in (1, 3), "--channels must be 1 (grey) or 3 (RGB).")
    check("validation_fraction", lambda v: 0 <= v < 1, "--validation_fraction must be in [0, 1) (0: no validation).")
    check("validation_steps", lambda v: v >= 0, "--validation_steps must be >= 0 (0: the whole held-out set).")
    check("keep_checkpoints", lambda v: v >= 1, "--keep_checkpoints must be >= 1.")
    check("dsprites_num_images", lambda v: v >= 0 and v % 1024 == 0,
          "--dsprites_num_images must be a multiple of 1024 (whole sprites of the official order), or 0 for all.")
    for name in ("log_every",) + INTERVAL_FLAGS:
        check(name, lambda v: v >= 1, f"--{name} must be >= 1 (steps).")

    def rule(names, ok, message) -> None:
        flags.register_multi_flags_validator(names, ok, message=message, flag_values=fv)

    def only_applicable(v) -> bool:
        ignored = run_config.inapplicable_keys(v)
        given = [f"--{n}" for n in run_config.CAPACITY_KEYS if n in ignored and fv[n].present]
        if given:
            raise flags.ValidationError(
                f"{', '.join(given)} only appl{'y' if len(given) > 1 else 'ies'} to "
                "--objective=capacity or hinge, but --objective=beta: remove "
                f"{'them' if len(given) > 1 else 'it'}, or choose a capacity objective."
            )
        if "beta" in ignored and fv["beta"].present:
            raise flags.ValidationError(
                f"--beta only applies to --objective=beta, but --objective={v['objective']} "
                "(which weighs |KL - C| by --gamma): remove --beta, or use --objective=beta."
            )
        if "gaussian_sigma" in ignored and fv["gaussian_sigma"].present:
            raise flags.ValidationError(
                "--gaussian_sigma only applies to --likelihood=gaussian: remove it, or use the "
                "gaussian likelihood."
            )
        return True

    rule(["objective", "likelihood", "beta", "gaussian_sigma"] + list(run_config.CAPACITY_KEYS),
         only_applicable, "")
    def known_source(v) -> bool:
        allowed = ("auto",) + DATA_SOURCES.get(v["dataset"], ())
        if v["data_source"] not in allowed:
            raise flags.ValidationError(
                f"--data_source={v['data_source']} is not a source of --dataset={v['dataset']}: "
                f"choose one of {', '.join(allowed)}."
            )
        return True

    rule(["dataset", "data_source"], known_source, "")
    rule(["dataset", "channels"], lambda v: v["dataset"] != "dsprites" or v["channels"] == 1,
         "dSprites images have one channel: use --channels=1 with --dataset=dsprites.")
    rule(["dataset", "channels"], lambda v: v["dataset"] != "celeba" or v["channels"] == 3,
         "CelebA images are RGB: use --channels=3 with --dataset=celeba.")
    rule(["likelihood", "channels"], lambda v: not (v["likelihood"] == "bernoulli" and v["channels"] == 3),
         "--likelihood=bernoulli models binary pixels, but --channels=3 images are colour photographs: "
         "use --likelihood=gaussian (and --gaussian_sigma) for RGB data.")
    rule(["dataset", "data_path"], lambda v: v["dataset"] != "image_folder" or bool(v["data_path"]),
         "--dataset=image_folder needs --data_path=<folder of images> (searched recursively).")
    rule(["dataset", "data_source", "dsprites_num_images"],
         lambda v: not v["dsprites_num_images"] or (v["dataset"] == "dsprites" and v["data_source"] in ("auto", "rendered")),
         "--dsprites_num_images takes a leading block of rendered dSprites: use it with --dataset=dsprites "
         "and --data_source=rendered (or auto), or remove it.")
    rule(["strategy", "tpu"], lambda v: v["tpu"] is None or v["strategy"] == "tpu",
         "--tpu names the TPU of --strategy=tpu: add --strategy=tpu, or remove --tpu.")

    def steps_multiple(v) -> bool:
        every = v["log_every"]
        for name in ("steps",) + INTERVAL_FLAGS:
            if v[name] % every:
                low = max(every, v[name] // every * every)
                raise flags.ValidationError(
                    f"--{name}={v[name]} is not a multiple of --log_every={every} (a logging "
                    f"interval is one Keras epoch): use --{name}={low} or {low + every}, or "
                    "change --log_every."
                )
        return True

    rule(["log_every", "steps"] + list(INTERVAL_FLAGS), steps_multiple, "")


def config_from_flags(fv: flags.FlagValues, names: list[str]) -> dict:
    """The settings of the run: every app flag's value, with the defaults derived from others
    filled in (run directory, model name)."""
    config = {name: fv[name].value for name in names}
    if not config["model_name"]:
        config["model_name"] = f"{config['dataset']}_{config['objective']}"
    if not config["run_dir"]:
        config["run_dir"] = f"runs/{config['model_name']}"
    return config


def main(argv: list[str]) -> int:
    """Trains (or resumes) the run the flags describe; tfbvae's errors reach the user through
    :mod:`tfbvae.cli.app_runner` as one message and an exit status."""
    import logging

    from tfbvae.training import train as training

    # TensorFlow's INFO lines (through absl's logger) are noise here; tfbvae's own stay.
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tfbvae").setLevel(logging.INFO)

    result = training.train(config_from_flags(flags.FLAGS, APP_FLAGS))
    print(f"Done: {result.run_dir} at step {result.step}.")
    if result.export:
        print(f"Exported: {result.export['encoder']} and {result.export['decoder']}")
    return 0


if __name__ == "__main__":
    APP_FLAGS = define_flags(flags.FLAGS)
    app_runner.run(main)
