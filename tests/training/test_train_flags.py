"""apps/train.py flags: validation messages, the flagfiles in the repo, flags.txt round trips."""

from pathlib import Path

import pytest
from absl import flags

from apps import train as train_app
from tfbvae.cli import app_runner
from tfbvae.training import run_dir as layout
from tfbvae.training import run_record
from tfbvae.training.settings import Settings

REPO = Path(__file__).resolve().parents[2]
# The standalone recipes: every flagfile but disentanglement_lib's model files, which follow one.
FLAGFILES = sorted(path.name for path in REPO.glob("*.flags") if not path.name.startswith("dlib_"))


def parse(*args):
    """The app's flags parsed from ``args`` on a fresh FlagValues (no global state)."""
    fv = flags.FlagValues()
    names = train_app.define_flags(fv)
    with app_runner.command_line(["train.py", *args]):  # as the app parses its command line
        fv(["train.py", *args])
    return fv, names


def config_of(*args):
    fv, _ = parse(*args)
    return train_app.settings_from_flags(fv)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--beta=-1"], "--beta must be >= 0"),
        (["--gamma=-5"], "--gamma must be >= 0"),
        (["--latent_dim=0"], "--latent_dim must be >= 1"),
        (["--learning_rate=0"], "--learning_rate must be > 0"),
        (["--network=resnet"], "value should be one of <burgess|higgins_conv|higgins_mlp|locatello>"),
        (["--objective=beta", "--c_max=25"], "--c_max only applies to --objective=capacity or hinge"),
        (["--objective=beta", "--gamma=10", "--c_stop_steps=5"], "--gamma, --c_stop_steps only apply"),
        (["--beta=4"], "--beta only applies to --objective=beta, but --objective=capacity"),
        (["--gaussian_sigma=0.1"], "--gaussian_sigma only applies to --likelihood=gaussian"),
        (["--channels=3"], "dSprites images have one channel: use --channels=1"),
        (["--dataset=image_folder", "--data_path=x", "--channels=3"],
         "--likelihood=bernoulli models binary pixels, but --channels=3"),
        (["--dataset=celeba", "--channels=1"], "CelebA images are RGB: use --channels=3"),
        (["--dataset=image_folder"], "--dataset=image_folder needs --data_path"),
        (["--image_size=128"], "--image_size must be 64"),
        (["--steps=1050"], "--steps=1050 is not a multiple of --log_every=100"),
        (["--checkpoint_every=250"], "use --checkpoint_every=200 or 300"),
        (["--dsprites_num_images=1000"], "--dsprites_num_images must be a multiple of 1024"),
        (["--dsprites_num_images=1024", "--data_source=official"], "takes a leading block of rendered dSprites"),
        (["--tpu=grpc://x:8470"], "--tpu names the TPU of --strategy=tpu"),
        (["--validation_fraction=1"], "--validation_fraction must be in [0, 1)"),
        (["--data_source=zip"], "--data_source=zip is not a source of --dataset=dsprites: choose one of auto, rendered, official, tfds"),
    ],
)
def test_impossible_settings_stop_with_a_message_naming_the_flag_and_a_fix(args, message):
    with pytest.raises(flags.IllegalFlagValueError) as error:
        parse(*args)
    assert message in str(error.value)


def test_defaults_are_dsprites_flags_and_derive_run_dir_and_model_name(repo):
    fv, names = parse()
    dsprites, _ = parse(f"--flagfile={repo / 'dsprites.flags'}")
    assert {n for n in names if fv[n].value != dsprites[n].value} == set()
    config = config_of()
    assert config.model_name == "dsprites_capacity"
    assert config.run_dir == "runs/dsprites_capacity"


@pytest.mark.parametrize("name", FLAGFILES)
def test_flagfiles_parse_and_cite_every_setting(name, repo):
    path = repo / name
    config_of(f"--flagfile={path}")
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("--"):  # each setting follows a comment (its source) or a setting
            above = lines[i - 1]
            assert above.startswith("#") or above.startswith("--"), f"{name}:{i + 1} {line}"
    assert sum(line.startswith("#") for line in lines) >= 8


def test_each_flagfile_has_its_own_run_dir_and_model_name(repo):
    configs = [config_of(f"--flagfile={repo / name}") for name in FLAGFILES]
    assert len({c.run_dir for c in configs}) == len({c.model_name for c in configs}) == len(FLAGFILES)


def test_published_settings(repo):
    dsprites = config_of(f"--flagfile={repo / 'dsprites.flags'}")
    assert (dsprites.network, dsprites.likelihood, dsprites.objective) == ("burgess", "bernoulli", "capacity")
    assert (dsprites.gamma, dsprites.c_max, dsprites.c_stop_steps) == (1000, 25, 100000)
    assert (dsprites.learning_rate, dsprites.batch_size, dsprites.latent_dim) == (5e-4, 64, 10)
    assert config_of(f"--flagfile={repo / 'dsprites_beta.flags'}").beta == 4
    vae = config_of(f"--flagfile={repo / 'dsprites_vae.flags'}")
    assert (vae.objective, vae.beta) == ("beta", 1)
    assert config_of(f"--flagfile={repo / 'dsprites_hinge.flags'}").objective == "hinge"
    celeba = config_of(f"--flagfile={repo / 'celeba.flags'}")
    assert (celeba.dataset, celeba.channels, celeba.likelihood) == ("celeba", 3, "gaussian")
    chairs = config_of(f"--flagfile={repo / 'chairs.flags'}")
    assert (chairs.dataset, chairs.objective) == ("image_folder", "beta")


def test_flags_txt_parses_back_to_the_same_settings(tmp_path, data_record):
    config = config_of("--objective=beta", "--beta=4", "--noexport", "--run_dir=" + str(tmp_path),
                       "--data_path=/data/x.npz")
    run_record.write_run(tmp_path, config, data_record("test"))
    assert config_of(f"--flagfile={tmp_path / layout.FLAGS_FILE}") == config
    assert Settings.from_flags_file(tmp_path / layout.FLAGS_FILE) == config
    assert run_record.read_run(tmp_path).settings == config


def test_the_flags_offer_exactly_the_names_the_library_implements():
    """The app takes its choices from tfbvae.names (no TensorFlow); each registry maps the same
    names to its code."""
    from tfbvae import names
    from tfbvae.data import datasets
    from tfbvae.model import likelihoods
    from tfbvae.model import networks
    from tfbvae.model import objectives
    from tfbvae.training import strategies

    assert tuple(networks.NETWORKS) == names.NETWORKS
    assert tuple(likelihoods.LIKELIHOODS) == names.LIKELIHOODS
    assert tuple(objectives.OBJECTIVES) == names.OBJECTIVES
    assert names.CAPACITY_OBJECTIVES == tuple(
        name for name in names.OBJECTIVES if objectives.get_objective(name).uses_capacity)
    assert strategies.STRATEGIES is names.STRATEGIES and tuple(datasets.MODULES) == names.DATASETS
    fv, _ = parse()
    for flag, choices in (("network", names.NETWORKS), ("likelihood", names.LIKELIHOODS),
                          ("objective", names.OBJECTIVES), ("strategy", names.STRATEGIES),
                          ("dataset", names.DATASETS)):
        assert tuple(fv[flag].parser.enum_values) == choices


def test_the_flags_typed_on_a_command_line_are_known_while_it_is_parsed():
    argv = ["train.py", "--flagfile=x.flags", "--beta=4", "--noprogress", "--nbits=3", "-gamma", "5",
            "--", "--steps=1"]
    with app_runner.command_line(argv):
        assert app_runner.typed_flag_names() == {"beta", "noprogress", "progress", "nbits", "gamma"}
    assert app_runner.typed_flag_names() is None  # outside a parse: every flag present counts
