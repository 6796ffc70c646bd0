"""CI runs what the README tells a user to run: the README's test command is `.ci/run`'s."""

import re


def test_ci_runs_the_readmes_test_command(repo):
    """Catches the two drifting apart (e.g. CI installing torch or tensorflow-serving-api and
    the README not, so that a user's run skips or fails where CI's passes)."""
    readme = (repo / "README.md").read_text()
    (command,) = [line for line in re.findall(r"```bash\n(.*?)```", readme, re.S)
                  for line in [line.strip()] if line.endswith("python -m pytest")]
    ci = (repo / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == command
    assert "torch==2.13.0" in command and "tensorflow-serving-api" in command
    assert any(line.startswith("command -v curl") for line in ci)  # the curl test runs in CI
