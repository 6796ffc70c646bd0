"""apps/study.py and tfbvae.study: a tiny study (2 cells x 2 seeds, 40 steps on 2,048 rendered
dSprites images, two cheap metrics at tiny counts) run through the app: one array task alone,
then the rest stopped by SIGTERM mid-study and resumed to the end; ``--list``; the shipped study
files; bad study files; and the aggregate's statistics on evaluation files written here."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tfbvae.errors import BadInput
from tfbvae.study import aggregate
from tfbvae.study.commands import train_command
from tfbvae.study.run_state import checkpoint_step, export_step, find_evaluation
from tfbvae.study.spec import load_study, study_runs
from tfbvae.training import run_record
from tfbvae.training.settings import Settings

REPO = Path(__file__).resolve().parents[2]

TINY_STUDY = """\
[study]
name = tiny
steps = 40
seeds = 0, 1
preset = fast
metrics = mig,sap
overrides = all.num_train=100 all.num_test=50
flags = --data_source=rendered --dsprites_num_images=2048 --data_dir={data_dir}
    --batch_size=8 --log_every=20 --validate_every=20 --image_every=40 --checkpoint_every=20
    --validation_fraction=0.02 --validation_steps=1

[cell capacity]
flags = --flagfile=dsprites.flags --c_stop_steps=40

[cell beta4]
flags = --flagfile=dsprites_beta.flags
"""
RUN_DIRS = ["capacity/seed0", "beta4/seed0", "capacity/seed1", "beta4/seed1"]  # by index
TASK = 1  # beta4 seed 0
RESUMED = re.compile(r"Resuming .* from step (\d+)")


def study_app(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "apps" / "study.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def write_study(directory: Path, text: str = TINY_STUDY) -> Path:
    path = directory / "study.ini"
    path.write_text(text.format(data_dir=directory / "data"))
    return path


@dataclass(frozen=True)
class TinyStudy:
    file: Path
    directory: Path
    task: subprocess.CompletedProcess  # --task_index=TASK on the empty study
    after_task: list[str]  # the run directories that existed after it


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory) -> TinyStudy:
    root = tmp_path_factory.mktemp("study")
    study_file, study_dir = write_study(root), root / "runs"
    task = study_app(f"--study={study_file}", f"--study_dir={study_dir}", f"--task_index={TASK}")
    existing = [d for d in RUN_DIRS if (study_dir / d).exists()]
    return TinyStudy(study_file, study_dir, task, existing)


def test_task_index_trains_and_evaluates_that_run_alone(tiny_study):
    assert tiny_study.task.returncode == 0, tiny_study.task.stdout + tiny_study.task.stderr
    assert tiny_study.after_task == [RUN_DIRS[TASK]]
    spec = load_study(tiny_study.file, REPO)
    run_dir = tiny_study.directory / RUN_DIRS[TASK]
    assert checkpoint_step(run_dir) == 40
    assert find_evaluation(spec, run_dir) is not None
    assert "[2/4] train beta4 seed 0: started" in tiny_study.task.stdout
    assert "[2/4] evaluate beta4 seed 0: done" in tiny_study.task.stdout
    assert not (tiny_study.directory / "results.json").exists()  # a task does not aggregate


def test_a_study_stopped_by_a_signal_resumes_to_the_end(tiny_study):
    spec = load_study(tiny_study.file, REPO)
    runs = study_runs(spec, tiny_study.directory)
    task_result = find_evaluation(spec, runs[TASK].run_dir)
    task_result_written = task_result.stat().st_mtime_ns
    output = tiny_study.directory / "killed.out"
    with open(output, "w") as out:
        study = subprocess.Popen(
            [sys.executable, str(REPO / "apps" / "study.py"), f"--study={tiny_study.file}",
             f"--study_dir={tiny_study.directory}", "--workers=2", "--progress_every=2"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            steps_at_kill = wait_for_a_new_checkpoint(runs, study)
            study.send_signal(signal.SIGTERM)
            assert study.wait(timeout=120) == 128 + signal.SIGTERM
        finally:
            study.kill()
            study.wait()
    with pytest.raises(ProcessLookupError):  # the study stopped its runs: nothing is left
        os.killpg(study.pid, 0)
    text = output.read_text()
    assert "ERROR: stopped by SIGTERM" in text and "Traceback" not in text
    assert any(step != 40 for step in steps_at_kill.values())  # the kill was mid-study

    resumed = study_app(f"--study={tiny_study.file}", f"--study_dir={tiny_study.directory}",
                        "--workers=2")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    for run in runs:
        assert checkpoint_step(run.run_dir) == 40 and find_evaluation(spec, run.run_dir)
        assert export_step(run_record.read_run(run.run_dir), REPO) == 40
        resumed_from = [int(step) for step in RESUMED.findall(run.log_path.read_text())]
        if steps_at_kill[run.index] not in (None, 40):  # stopped mid-run: resumed, not restarted
            assert resumed_from and resumed_from[-1] >= steps_at_kill[run.index]
    assert find_evaluation(spec, runs[TASK].run_dir).stat().st_mtime_ns == task_result_written
    assert "[2/4]" not in resumed.stdout  # the finished, evaluated run was left alone

    results = json.loads((tiny_study.directory / "results.json").read_text())
    assert [c["seeds_evaluated"] for c in results["cells"]] == [[0, 1], [0, 1]]
    assert all(c["steps"] == {"0": 40, "1": 40} for c in results["cells"])
    for name in ("results.md", "metrics.png", "kl_curves_capacity.png", "kl_curves_beta4.png"):
        assert (tiny_study.directory / name).stat().st_size > 0


def wait_for_a_new_checkpoint(runs, study: subprocess.Popen) -> dict[int, int | None]:
    """Waits until a run other than the task's has a checkpoint; returns every run's step."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and study.poll() is None:
        steps = {run.index: checkpoint_step(run.run_dir) for run in runs}
        if any(steps[run.index] for run in runs if run.index != TASK):
            return steps
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint appeared (study exit status {study.poll()})")


def test_list_prints_one_command_per_run_and_touches_nothing(tmp_path):
    study_file, study_dir = write_study(tmp_path), tmp_path / "runs"
    result = study_app(f"--study={study_file}", f"--study_dir={study_dir}", "--list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("\t")[:4] for line in lines] == [
        ["0", "capacity", "seed0", "new"], ["1", "beta4", "seed0", "new"],
        ["2", "capacity", "seed1", "new"], ["3", "beta4", "seed1", "new"]]
    for line, run_dir in zip(lines, RUN_DIRS):
        command = line.split("\t")[4]
        assert command.startswith(f"cd {REPO} && TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 "
                                  "OMP_NUM_THREADS=1 nice -n 19 ")
        assert (" apps/train.py --flagfile=" in command and f"--seed={run_dir[-1]} --steps=40 "
                f"--run_dir={study_dir / run_dir} --progress=false >> {study_dir / run_dir}.log"
                in command)
    assert not study_dir.exists()


def test_the_paper_study_lists_the_commands_its_runs_were_started_with(tmp_path):
    spec = load_study(REPO / "studies" / "dsprites_paper.ini", REPO)
    runs = study_runs(spec, tmp_path)
    flags = {"capacity": ("--flagfile=dsprites.flags",), "beta4": ("--flagfile=dsprites_beta.flags",),
             "vae": ("--flagfile=dsprites_vae.flags",), "hinge": ("--flagfile=dsprites_hinge.flags",),
             "capacity_g100": ("--flagfile=dsprites.flags", "--gamma=100", "--c_max=20")}
    assert [run.cell.name for run in runs] == list(flags) and spec.preset == "paper"
    for run in runs:
        assert train_command(spec, run, "python", 1).argv[3:] == (
            "python", "apps/train.py", *flags[run.cell.name], "--seed=0", "--steps=100000",
            f"--run_dir={tmp_path / run.cell.name / 'seed0'}", "--progress=false")


def test_the_cpu_study_spreads_the_four_objectives_over_three_seeds(tmp_path):
    spec = load_study(REPO / "studies" / "dsprites_cpu.ini", REPO)
    assert (spec.steps, spec.seeds, spec.preset) == (20000, (0, 1, 2), "fast")
    cells = {cell.name: cell.flags for cell in spec.cells}
    assert cells == {"capacity": ("--flagfile=dsprites.flags", "--c_stop_steps=20000"),
                     "beta4": ("--flagfile=dsprites_beta.flags",),
                     "vae": ("--flagfile=dsprites_vae.flags",),
                     "hinge": ("--flagfile=dsprites_hinge.flags", "--c_stop_steps=20000")}
    assert len(study_runs(spec, tmp_path)) == 12


def test_the_gamma_study_changes_only_gamma_from_the_cpu_studys_capacity_cell(tmp_path):
    spec = load_study(REPO / "studies" / "dsprites_gamma.ini", REPO)
    cpu = load_study(REPO / "studies" / "dsprites_cpu.ini", REPO)
    capacity = next(cell.flags for cell in cpu.cells if cell.name == "capacity")
    assert (spec.steps, spec.seeds, spec.preset) == (cpu.steps, (0,), cpu.preset)
    assert {cell.name: cell.flags for cell in spec.cells} == {
        "gamma100": (*capacity, "--gamma=100"), "gamma300": (*capacity, "--gamma=300"),
        "gamma1000": capacity}  # dsprites.flags' own gamma is 1000


@pytest.mark.parametrize("study_file", sorted((REPO / "studies").glob("*.ini")), ids=lambda p: p.name)
def test_every_study_file_of_the_repository_lists_its_runs(study_file, tmp_path):
    result = study_app(f"--study={study_file}", f"--study_dir={tmp_path}", "--list")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("apps/train.py") == len(result.stdout.strip().splitlines()) > 0


def test_a_bad_study_file_exits_2_with_one_line(tmp_path):
    study_file = write_study(tmp_path, TINY_STUDY.replace("dsprites_beta.flags", "nothing.flags"))
    result = study_app(f"--study={study_file}", "--list")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"ERROR: {study_file}: [cell beta4] flags: no flagfile nothing.flags in {REPO}: name a "
        "flagfile of the repository, e.g. --flagfile=dsprites.flags"]
    assert result.stdout == ""


@pytest.mark.parametrize("change, message", [
    (("steps = 40", ""), "[study] lacks steps"),
    (("steps = 40", "steps = forty"), "steps = 'forty' must be a positive integer"),
    (("seeds = 0, 1", "seeds = 0, 0"), "must list distinct non-negative integers"),
    (("preset = fast", "preset = quick"), "preset = 'quick' is not a metrics preset"),
    (("metrics = mig,sap", "metrics = mig,nope"), "metrics or overrides: unknown metric"),
    (("[cell beta4]", "[beta4]"), "unknown section [beta4]"),
    (("[cell beta4]", "[cell beta 4]"), "'beta 4' cannot name a directory"),
    (("--c_stop_steps=40", "--c_stop_steps=40 --steps=10"), "sets --steps, which the study sets"),
    (("name = tiny", "name = tiny\nstep = 4"), "unknown keys step"),
    (("--c_stop_steps=40", "'--c_stop_steps=40"), "No closing quotation"),
])
def test_study_file_problems_are_named_with_their_fix(tmp_path, change, message):
    study_file = write_study(tmp_path, TINY_STUDY.replace(*change))
    with pytest.raises(BadInput) as raised:
        load_study(study_file, REPO)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_the_aggregate_gives_each_cells_median_and_range_and_names_missing_seeds(tmp_path, data_record,
                                                                               write_events):
    study_file = write_study(tmp_path, TINY_STUDY.replace("seeds = 0, 1", "seeds = 0, 1, 2"))
    spec = load_study(study_file, REPO)
    runs = study_runs(spec, tmp_path / "runs")
    scores = {("capacity", 0): (0.1, 0.05, 100.0), ("capacity", 1): (0.3, 0.01, 120.0),
              ("capacity", 2): (0.2, 0.03, 110.0), ("beta4", 0): (0.5, 0.2, 90.0),
              ("beta4", 1): (0.7, None, 80.0)}  # beta4 seed 2: a paper-preset result only
    for run in runs:
        fake_finished_run(run, spec, scores.get((run.cell.name, run.seed)), data_record)
    # Training time: beta4's finished seeds 100 s and 300 s; seed 2, stopped at step 20, is not
    # counted (its time so far is not a run's time).
    beta4_runs = {run.seed: run.run_dir for run in runs if run.cell.name == "beta4"}
    for seed, seconds in ((0, 100.0), (1, 300.0), (2, 5000.0)):
        (beta4_runs[seed] / "logs" / "train").mkdir(parents=True)
        write_events(beta4_runs[seed] / "logs" / "train" / "events.out.tfevents.1000.vm.7.0.v2",
                     [1000.0, 1000.0 + seconds])
    (beta4_runs[2] / "checkpoints" / "ckpt-40.index").unlink()

    aggregate.write_results(spec, tmp_path / "runs", runs, REPO)

    results = json.loads((tmp_path / "runs" / "results.json").read_text())
    capacity, beta4 = results["cells"]
    assert capacity["metrics"]["mig"] == {"median": 0.2, "min": 0.1, "max": 0.3, "n": 3,
                                          "by_seed": {"0": 0.1, "1": 0.3, "2": 0.2}}
    assert capacity["metrics"]["sap"]["median"] == 0.03
    assert capacity["heldout"]["reconstruction"] == {"median": 110.0, "min": 100.0, "max": 120.0, "n": 3}
    assert beta4["metrics"]["mig"] == {"median": 0.6, "min": 0.5, "max": 0.7, "n": 2,
                                       "by_seed": {"0": 0.5, "1": 0.7, "2": None}}
    assert beta4["metrics"]["sap"]["n"] == 1  # a null (non-finite) score is not a value
    assert (beta4["seeds_evaluated"], beta4["seeds_missing"]) == ([0, 1], [2])
    assert capacity["settings"] == {"objective": "capacity", "gamma": 1000.0, "c_max": 25.0,
                                    "c_stop_steps": 40}
    assert capacity["data_sources"] == ["dsprites-rendered (tfbvae renderer v1)"]
    assert beta4["steps"] == {"0": 40, "1": 40, "2": 20}
    assert beta4["training_seconds"] == {"median": 200.0, "min": 100.0, "max": 300.0, "n": 2}
    assert capacity["training_seconds"] == {"median": None, "min": None, "max": None, "n": 0}
    table = (tmp_path / "runs" / "results.md").read_text()
    assert ("| capacity | objective capacity, gamma 1000, c_max 25, c_stop_steps 40 | 3 of 3 | "
            "0.200 [0.100–0.300] | 0.030 [0.010–0.050] | 110.0 [100.0–120.0] |") in table
    assert "| beta4 | objective beta, beta 4 | 2 of 3 (missing: seed 2) | 0.600 [0.500–0.700] | 0.200 |" in table
    assert (tmp_path / "runs" / "metrics.png").stat().st_size > 0

    # --results_dir publishes the same table and plots elsewhere (e.g. docs/studies/<study>).
    published = study_app(f"--study={study_file}", f"--study_dir={tmp_path / 'runs'}",
                          "--stage=aggregate", f"--results_dir={tmp_path / 'docs'}")
    assert published.returncode == 0, published.stderr
    assert f"in {tmp_path / 'docs'}" in published.stdout
    assert json.loads((tmp_path / "docs" / "results.json").read_text())["cells"] == results["cells"]
    for name in ("results.md", "metrics.png"):  # these runs have no logs: no KL curves
        assert (tmp_path / "docs" / name).stat().st_size > 0


def test_the_kl_minus_c_spread_counts_finished_runs_only():
    def run(seed, finished, last, largest):
        return aggregate.RunSummary("capacity", seed, f"runs/s{seed}", 40 if finished else 20, finished,
                                    tracking={"kl_minus_c": {"last_tenth_mean": last,
                                                             "max_abs_after_first_tenth": largest}})
    records = [run(0, True, 0.5, 1.0), run(1, True, 1.5, 3.0), run(2, False, None, 9.0)]
    assert aggregate.kl_minus_c_spread(records) == {
        "last_tenth_mean": {"median": 1.0, "min": 0.5, "max": 1.5, "n": 2},
        "max_abs_after_first_tenth": {"median": 2.0, "min": 1.0, "max": 3.0, "n": 2}}
    assert aggregate.kl_minus_c_spread(records[2:]) is None
    assert aggregate.kl_minus_c_spread([aggregate.RunSummary("beta4", 0, "r", 40, True)]) is None


def test_switch_on_lines_say_which_latents_never_switched_on():
    capacity = {"switch_on": [[5, 1300], [8, 1400], [0, None]]}
    vae = {"switch_on": [[0, 200], [1, 200]]}
    results = {"runs": [{"cell": "capacity", "seed": 0, "tracking": capacity},
                        {"cell": "vae", "seed": 1, "tracking": vae},
                        {"cell": "beta4", "seed": 2, "tracking": {}}]}  # no KL logs: no line
    assert aggregate._switch_on_lines(results) == [
        "- capacity seed 0: z5 @1,300, z8 @1,400 (1 latent never switched on)",
        "- vae seed 1: z0 @200, z1 @200 (every latent switched on)"]


def fake_finished_run(run, spec, scores: tuple | None, data_record) -> None:
    """A run directory as the apps leave it at the study's step: run record, checkpoint files,
    export metadata and an evaluation (a paper-preset one, which the study ignores, when
    ``scores`` is None)."""
    objective = {"capacity": {"objective": "capacity", "gamma": 1000.0, "c_max": 25.0,
                              "c_stop_steps": 40},
                 "beta4": {"objective": "beta", "beta": 4.0}}[run.cell.name]
    run_record.write_run(run.run_dir, Settings(**objective, run_dir=str(run.run_dir), seed=run.seed),
                         data_record("dsprites-rendered (tfbvae renderer v1)"))
    (run.run_dir / "checkpoints").mkdir()
    for step in (20, 40):
        (run.run_dir / "checkpoints" / f"ckpt-{step}.index").write_bytes(b"")
    for part in ("encoder", "decoder"):
        version = run.run_dir / "exported_models" / f"dsprites_{objective['objective']}" / part / "1"
        (version / "assets.extra").mkdir(parents=True)
        (version / "saved_model.pb").write_bytes(b"")
        write_json(version / "assets.extra" / "tfbvae_metadata.json", {"run": {"step": 40}})
    mig, sap, recon = scores if scores else (0.9, 0.9, 1.0)
    write_json(run.run_dir / "evaluation" / f"metrics_{'fast_custom' if scores else 'paper'}_seed0.json", {
        "preset": spec.preset if scores else "paper", "overrides": list(spec.overrides),
        "seed": 0, "model": {"kind": "run", "step": 40}, "summary": {"mig": mig, "sap": sap},
        "heldout": {"reconstruction": recon, "kl": 20.0}})


def write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
