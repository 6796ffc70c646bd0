"""The README's commands and Python examples work as written.

Every ``python apps/...`` command of the README is parsed and checked by its app
(``--only_check_args``: the flags, their validators and the paths they name, before TensorFlow);
the quick-start flow (train with an export, export again, evaluate, visualize, tabulate) and the
commands on the shipped pretrained model run for real with small settings; the Python examples
run with a few steps.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tfbvae.training import run_record

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
# A command: "python apps/<app>.py" and its arguments, up to the end of the line (continuations
# joined; in prose a flag may start the next line), a comment or a closing backtick.
_COMMAND = re.compile(r"python (apps/\w+\.py)((?:(?: +|\n(?=--))[^\s`#]+)*)")
RUN_PATHS = ("runs/quickstart",
             "runs/color_dsprites_beta_locatello",
             "runs/studies/dsprites_paper/capacity_g100/seed0")  # runs the README's commands make


def readme_commands() -> list[tuple[str, list[str]]]:
    """``(app, arguments)`` of every ``python apps/...`` command in the README, in order."""
    text = README.replace("\\\n", " ")
    return [(app, shlex.split(args)) for app, args in _COMMAND.findall(text)]


def run_python(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_the_readme_has_the_commands_this_file_checks():
    apps = {app for app, _ in readme_commands()}
    assert apps == {f"apps/{name}.py" for name in ("train", "evaluate", "visualize", "export",
                                                   "results_table", "study")}
    assert len(readme_commands()) >= 20


def local_links(markdown: Path) -> list[str]:
    """Images and links of a Markdown file that name files of the repository (not web
    addresses, not in-page anchors), without their anchors."""
    targets = re.findall(r"\]\(([^)\s]+)\)", markdown.read_text())
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:|#", t)]


def test_every_picture_and_file_a_readme_links_to_is_there():
    readmes = [REPO / "README.md", *REPO.glob("[!.]*/README.md")]
    missing = [f"{md.relative_to(REPO)}: {link}" for md in readmes for link in local_links(md)
               if not (md.parent / link).exists()]
    assert not missing, missing
    assert len(local_links(REPO / "README.md")) >= 10  # the results' pictures and tables


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_record, tiny_config):
    """A run directory's record (what the flag checks read) for the README's run paths."""
    root = tmp_path_factory.mktemp("readme_run")
    config = tiny_config(root / "run", root / "data")
    run_record.write_run(config.run_dir, config, data_record("dsprites-rendered"))
    return root / "run"


@pytest.mark.parametrize("app, args", readme_commands(),
                         ids=[f"{app} {' '.join(args)}"[:80] for app, args in readme_commands()])
def test_every_readme_command_passes_its_apps_checks(app, args, run_dir):
    if "--helpfull" in args:
        result = run_python(app, "--helpfull")
        assert "--beta" in result.stdout and "Traceback" not in result.stderr
        return
    args = [re.sub("|".join(RUN_PATHS), str(run_dir), arg) for arg in args]
    result = run_python(app, *args, "--only_check_args")
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_quickstart_flow_runs_as_written_with_small_settings(tmp_path, tiny_args):
    """The README's first command (with a tiny run appended: later flags win), then the export,
    evaluation, pictures and table commands of the same run."""
    commands = readme_commands()
    run, exports, data = str(tmp_path / "quickstart"), str(tmp_path / "exported"), str(tmp_path / "data")
    small = {
        "apps/train.py": [*tiny_args, "--steps=10", "--export", f"--run_dir={run}",
                          f"--export_base={exports}", f"--data_dir={data}"],
        "apps/export.py": [f"--run_dir={run}", f"--export_base={exports}"],
        "apps/evaluate.py": ["--dsprites_source=rendered", "--metrics=mig", "--noprogress",
                             "--override=mig.num_train=50"],
        "apps/visualize.py": ["--dsprites_source=rendered", "--what=traversals,kl_curves",
                              "--factor_samples=100", f"--output_dir={tmp_path / 'pictures'}"],
    }
    quickstart = [(app, args) for app, args in commands
                  if any("runs/quickstart" in a for a in args) and "--flagfile=dsprites.flags" in args
                  or app != "apps/train.py" and "--model=runs/quickstart" in args
                  or app == "apps/export.py"]
    assert [app for app, _ in quickstart] == ["apps/train.py", "apps/evaluate.py",
                                              "apps/visualize.py", "apps/export.py"]
    for app, args in quickstart:
        args = [a.replace("runs/quickstart", run) for a in args]
        result = run_python(app, *args, *small[app], env={"TFBVAE_DATA_DIR": data})
        assert result.returncode == 0, (app, result.stderr[-3000:])
    assert sorted(os.listdir(tmp_path / "exported" / "dsprites_capacity" / "encoder")) == ["1", "2"]
    table = [args for app, args in commands if app == "apps/results_table.py"][0]
    evaluated = str(tmp_path / "quickstart" / "evaluation" / "metrics_fast_custom_seed0.json")
    result = run_python("apps/results_table.py",  # "<run>/evaluation/metrics_fast_seed0.json ..."
                        *[evaluated if a.endswith(".json") else a for a in table if a != "..."])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[2].startswith("| dsprites_capacity |")


def test_the_commands_on_the_pretrained_model_run_with_small_settings(tmp_path, monkeypatch):
    """Through each app's ``main(argv)`` in this process (the quickstart test above runs the apps
    as programs), from the repository root as the README's relative paths assume."""
    pretrained = [(app, args) for app, args in readme_commands()
                  if any(a.startswith("--model=exported_models/dsprites_pretrained") for a in args)]
    assert len(pretrained) >= 4
    small = {"apps/evaluate.py": ["--dsprites_source=rendered", "--noprogress", "--noheldout",
                                  "--override=all.num_train=50,all.num_test=20"],
             "apps/visualize.py": ["--dsprites_source=rendered", "--factor_samples=100",
                                   "--what=traversals,gif,samples"]}
    for i, (app, args) in enumerate(pretrained):
        if "--metrics=mig,dci" not in args and app == "apps/evaluate.py":
            args = [*args, "--metrics=mig,sap"]  # every metric is checked in test_evaluate_app
        monkeypatch.chdir(REPO)
        main = importlib.import_module(app.removesuffix(".py").replace("/", ".")).main
        assert main([app, *args, *small[app], f"--output_dir={tmp_path / str(i)}"]) == 0, (app, args)
        assert (tmp_path / str(i)).is_dir()


def python_examples() -> list[str]:
    """The README's ```python blocks."""
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_library_example_and_restore_model_run_as_written(tmp_path, tiny_config):
    library, grpc = python_examples()
    assert "stub.Predict" in grpc  # the gRPC client: run against the signatures in test_export_signatures
    # A few steps of the README's training loop on 1024 rendered images, then the README's
    # one-liner that reads a run directory back.
    small = (library.replace('validation_fraction=0.01)', 'validation_fraction=0.01, num_images=1024)')
             .replace("steps_per_epoch=1000, epochs=100", "steps_per_epoch=2, epochs=1, validation_steps=1"))
    assert small.count("1024") == 1 and "epochs=1," in small
    restore = re.search(r"`(model, facts = tfbvae\.training\.checkpoints\.restore_model\(run_dir\))`", README)[1]
    config = tiny_config(tmp_path / "run", tmp_path / "data", "--steps=5", "--log_every=5",
                         "--checkpoint_every=5", "--validate_every=5", "--image_every=5")
    script = "\n".join([
        small,
        'print("trained", int(model.optimizer.iterations.numpy()))',
        f"from tfbvae.training.settings import Settings\nfrom tfbvae.training.train import train\ntrain({config!r})",
        f"import tfbvae\nrun_dir = {str(tmp_path / 'run')!r}",
        restore,
        'print("restored", facts.step, facts.settings.objective)',
    ])
    result = run_python("-c", script, env={"TFBVAE_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trained 2" in result.stdout and "restored 5 capacity" in result.stdout
