"""Mutation check of the core maths: does each small wrong change make a test fail?

Run from the repository root (not part of the default test suite; it takes tens of minutes)::

    nice -n 10 .venv/bin/python tools/mutation_check.py            # every module below
    nice -n 10 .venv/bin/python tools/mutation_check.py mig sap    # some of them
    .venv/bin/python tools/mutation_check.py --list factor_vae     # show the mutants only
    nice -n 10 .venv/bin/python tools/mutation_check.py --rerun OLD.log  # an earlier run's
                                                                          # survivors only

For each target module it applies one mutation at a time -- an operator swapped (``+``/``-``,
``*``/``/``, ``<``/``<=``, ``==``/``!=``, ``and``/``or``), a term or a division deleted
(``a / b`` -> ``a``, ``a - b`` -> ``a``), a sign or ``not`` dropped, a number changed (``n`` ->
``n + 1``) or a reduction swapped (``max``/``min``, ``argmax``/``argmin``, ``sum``/``mean``) --
and runs only that module's fast unit tests, stopping at the first failure. A mutant no test
kills "survives". Survivors listed in ``EQUIVALENT`` below (with the reason they are not a bug)
are reported but accepted; the exit status is 1 if any other mutant survives.

Why a script of its own rather than mutmut (3.8.1) or cosmic-ray (8.7.0): mutmut is configured
in setup.cfg/pyproject.toml, mutates the whole package and starts with a "stats" run of the
configured tests to map them to functions (this suite trains models for minutes); cosmic-ray
needs a config and a session database per module. Pairing each module with its own fast test
files is one table here, and nothing needs installing. Nothing in the checkout is modified
(other people work in it): the package and tests are copied to a temporary directory and the
mutants are written there. Heavy imports (TensorFlow, scikit-learn) happen once; each mutant
runs in a forked child, so a run costs the tests' time, not the imports'.
"""

from __future__ import annotations

import argparse
import ast
import os
import pathlib
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass

REPO = pathlib.Path(__file__).resolve().parents[1]

# The duplicated test helpers are not mutated; model.py only in its train/test step and loss.
MODEL_FUNCTIONS = ("cross_replica_mean", "sample_posterior", "compute_terms",
                   "_update_trackers", "train_step", "test_step")
PAPER_DEFAULTS = "tests/evaluation/metrics/test_evaluation.py::test_paper_preset_is_every_metric_functions_defaults"

# name: (module path, test files/ids run against its mutants, functions to mutate or None = all,
#        whether the tests need TensorFlow's conftest)
TARGETS = {
    "objectives": ("tfbvae/model/objectives.py", ["tests/model/test_objectives.py", "tests/model/test_train_step.py"],
                   None, True),
    "likelihoods": ("tfbvae/model/likelihoods.py",
                    ["tests/model/test_likelihoods.py", "tests/model/test_train_step.py"], None, True),
    "divergences": ("tfbvae/model/divergences.py",
                    ["tests/model/test_divergences.py", "tests/model/test_train_step.py"], None, True),
    "model": ("tfbvae/model/beta_vae.py", ["tests/model/test_train_step.py", "tests/model/test_model_distributed.py"],
              MODEL_FUNCTIONS, True),
    "beta_vae": ("tfbvae/evaluation/metrics/beta_vae.py", ["tests/evaluation/metrics/test_beta_vae.py", PAPER_DEFAULTS],
                 None, False),
    "factor_vae": ("tfbvae/evaluation/metrics/factor_vae.py",
                   ["tests/evaluation/metrics/test_factor_vae.py", PAPER_DEFAULTS], None, False),
    "mig": ("tfbvae/evaluation/metrics/mig.py", ["tests/evaluation/metrics/test_mig.py", PAPER_DEFAULTS], None, False),
    "dci": ("tfbvae/evaluation/metrics/dci.py", ["tests/evaluation/metrics/test_dci.py", PAPER_DEFAULTS], None, False),
    "sap": ("tfbvae/evaluation/metrics/sap.py", ["tests/evaluation/metrics/test_sap.py", PAPER_DEFAULTS], None, False),
    "modularity": ("tfbvae/evaluation/metrics/modularity_explicitness.py",
                   ["tests/evaluation/metrics/test_modularity.py", PAPER_DEFAULTS], None, False),
    "unsupervised": ("tfbvae/evaluation/metrics/unsupervised.py",
                     ["tests/evaluation/metrics/test_unsupervised.py", PAPER_DEFAULTS], None, False),
    "utils": ("tfbvae/evaluation/metrics/utils.py", ["tests/evaluation/metrics/test_utils.py"], None, False),
}

# Survivors that are not bugs: (module path, function, source line stripped, mutation,
# occurrence of that mutation on the line, from 0) -> why.
EQUIVALENT: dict[tuple[str, str, str, str, int], str] = {
    ("tfbvae/model/objectives.py", "capacity_schedule",
     "fraction = 1.0 if c_stop_steps <= 0 else np.asarray(step, dtype=np.float64) / c_stop_steps",
     "1.0 -> 2.0", 0):
        "min(C_max, 2 C_max) = C_max for every C_max >= 0 (a capacity is never negative)",
    ("tfbvae/model/likelihoods.py", "_sum_over_pixels",
     "return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)",
     "-1 -> 1", 1):
        "the reshaped tensor is 2-D: axis 1 is axis -1",
    ("tfbvae/evaluation/metrics/beta_vae.py", "_generate_training_batch",
     "points_per_group = max(1, utils.ENCODE_GROUP // (2 * batch_size))", "1 -> 2", 0):
        "only sets how many points share an encoder call (ENCODE_GROUP // (2 batch) >= 2 for "
        "batches up to 256); results do not depend on the grouping",
    ("tfbvae/evaluation/metrics/factor_vae.py", "_generate_training_batch",
     "points_per_group = max(1, utils.ENCODE_GROUP // batch_size)", "1 -> 2", 0):
        "only sets how many points share an encoder call (ENCODE_GROUP // batch >= 2 for "
        "batches up to 512); results do not depend on the grouping",
    ("tfbvae/evaluation/metrics/factor_vae.py", "_generate_training_batch",
     "factors[:, factor_index] = factors[0, factor_index]", "0 -> 1", 0):
        "holds the factor at the second sample's value instead of the first's: the same "
        "distribution (both uniform draws), the same random stream",
    ("tfbvae/evaluation/metrics/factor_vae.py", "_generate_training_batch",
     "local_variances = np.var(codes, axis=0, ddof=1)", "1 -> 2", 0):
        "scales every code's local variance by the same (n-1)/(n-2): the argmin is unchanged",
    ("tfbvae/evaluation/metrics/dci.py", "disentanglement", "if importance_matrix.sum() == 0.0:",
     "importance_matrix.sum(...) -> importance_matrix.mean(...)", 0):
        "a sum is 0 exactly when the mean is",
    ("tfbvae/evaluation/metrics/dci.py", "completeness", "if importance_matrix.sum() == 0.0:",
     "importance_matrix.sum(...) -> importance_matrix.mean(...)", 0):
        "a sum is 0 exactly when the mean is",
    ("tfbvae/evaluation/metrics/sap.py", "compute_score_matrix", "cov = np.cov(mu_i, y_j, ddof=1)",
     "1 -> 2", 0):
        "cov^2 / (var var) does not depend on the common normalisation",
    ("tfbvae/evaluation/metrics/sap.py", "compute_score_matrix",
     "score_matrix[i, j] = cov[0, 1] ** 2 / (var_mu * var_y) if var_mu > 1e-12 else 0.0",
     "var_mu > 1e-12 -> var_mu >= 1e-12", 0):
        "differs only for a code whose sample variance is exactly 1e-12",
    ("tfbvae/evaluation/metrics/utils.py", "<module>", "ENCODE_GROUP = 1024", "1024 -> 1025", 0):
        "the size of the encoder's batches: a speed setting, no result depends on it",
    ("tfbvae/evaluation/metrics/utils.py", "generate_batch_factor_code", "pending_count = 0", "0 -> 1", 0):
        "flushes a group one observation earlier: only the encoder's batch sizes change",
    ("tfbvae/evaluation/metrics/utils.py", "generate_batch_factor_code", "pending, pending_count = [], 0",
     "0 -> 1", 0):
        "flushes a group one observation earlier: only the encoder's batch sizes change",
    ("tfbvae/evaluation/metrics/utils.py", "generate_batch_factor_code",
     "if pending_count >= ENCODE_GROUP or drawn == num_points:",
     "pending_count >= ENCODE_GROUP -> pending_count > ENCODE_GROUP", 0):
        "groups of one more batch when the batches fill ENCODE_GROUP exactly: only the "
        "encoder's batch sizes change",
}
# Lines whose every surviving mutant is harmless: (module path, function, source line) -> why.
EQUIVALENT_LINES: dict[tuple[str, str, str], str] = {
    ("tfbvae/evaluation/metrics/dci.py", "compute_importance_gbt", "seed = random_state.randint(2**31 - 1)"):
        "the range the trees' seed is drawn from (any range within scikit-learn's 0..2^32-1 "
        "gives reproducible trees; only tie-breaking between equal splits depends on it)",
    ("tfbvae/evaluation/metrics/sap.py", "compute_score_matrix",
     "seed = None if continuous_factors else random_state.randint(2**31 - 1)"):
        "the range the SVMs' seed is drawn from (any range within scikit-learn's 0..2^32-1 "
        "gives reproducible fits)",
}

SWAP_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
              ast.FloorDiv: ast.Div, ast.Pow: ast.Mult, ast.Mod: ast.FloorDiv}
SWAP_COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
                ast.In: ast.NotIn, ast.NotIn: ast.In}
SWAP_CALL = {"max": "min", "min": "max", "argmax": "argmin", "argmin": "argmax",
             "maximum": "minimum", "minimum": "maximum", "sum": "mean", "mean": "sum"}


@dataclass
class Mutant:
    path: str
    function: str
    line: int
    source_line: str
    description: str
    occurrence: int  # how many mutants before it on the same line have the same description
    new_source: str

    def key(self) -> tuple[str, str, str, str, int]:
        return (self.path, self.function, self.source_line, self.description, self.occurrence)

    def where(self) -> str:
        nth = f" (#{self.occurrence + 1} on the line)" if self.occurrence else ""
        return f"{self.path}:{self.line} [{self.function}] {self.description}{nth}"


def _splice(source: str, node: ast.AST, replacement: str) -> str:
    """``source`` with ``node``'s text replaced by ``replacement`` (parenthesised)."""
    lines = source.splitlines(keepends=True)
    start_line, start_col = node.lineno - 1, node.col_offset
    end_line, end_col = node.end_lineno - 1, node.end_col_offset
    # Columns are UTF-8 byte offsets.
    head = lines[start_line].encode()[:start_col].decode()
    tail = lines[end_line].encode()[end_col:].decode()
    return "".join(lines[:start_line]) + head + replacement + tail + "".join(lines[end_line + 1:])


def _unparse(node: ast.AST) -> str:
    return "(" + ast.unparse(node) + ")"


def _variants(node: ast.AST):
    """(description, replacement text) for each mutation of ``node`` itself."""
    if isinstance(node, ast.BinOp):
        text = ast.unparse(node)
        swapped = SWAP_BINOP.get(type(node.op))
        if swapped is not None:
            new = ast.BinOp(node.left, swapped(), node.right)
            yield f"{text} -> {ast.unparse(new)}", _unparse(new)
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            yield f"{text} -> {ast.unparse(node.left)}", _unparse(node.left)
        if isinstance(node.op, (ast.Add, ast.Mult)):
            yield f"{text} -> {ast.unparse(node.right)}", _unparse(node.right)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        yield f"{ast.unparse(node)} -> {ast.unparse(node.operand)}", _unparse(node.operand)
    elif isinstance(node, ast.Compare) and len(node.ops) == 1:
        swapped = SWAP_COMPARE.get(type(node.ops[0]))
        if swapped is not None:
            new = ast.Compare(node.left, [swapped()], node.comparators)
            yield f"{ast.unparse(node)} -> {ast.unparse(new)}", _unparse(new)
    elif isinstance(node, ast.BoolOp):
        new = ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), node.values)
        yield f"{ast.unparse(node)} -> {ast.unparse(new)}", _unparse(new)
    elif (isinstance(node, ast.Constant) and type(node.value) in (int, float)):
        new = ast.Constant(node.value + 1)
        yield f"{node.value!r} -> {new.value!r}", repr(new.value)
    elif isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in SWAP_CALL:
            if isinstance(func, ast.Attribute):
                new_func = ast.Attribute(func.value, SWAP_CALL[name], ast.Load())
            else:
                new_func = ast.Name(SWAP_CALL[name], ast.Load())
            yield (f"{ast.unparse(func)}(...) -> {ast.unparse(new_func)}(...)",
                   ast.unparse(new_func))


def mutants(path: str, functions: tuple[str, ...] | None = None) -> list[Mutant]:
    """Every mutant of the module at ``path`` (relative to the repository)."""
    source = (REPO / path).read_text()
    tree = ast.parse(source)
    found: list[Mutant] = []
    lines = source.splitlines()

    def skip(node: ast.AST) -> bool:
        # Docstrings, messages, annotations and imports carry no maths.
        return isinstance(node, (ast.JoinedStr, ast.Raise, ast.Import, ast.ImportFrom))

    def visit(node: ast.AST, function: str) -> None:
        if skip(node):
            return
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            function = node.name if isinstance(node, ast.FunctionDef) else function
            for child in node.body:
                visit(child, function)
            if isinstance(node, ast.FunctionDef):
                for default in node.args.defaults + node.args.kw_defaults:
                    if default is not None:
                        visit(default, function)
            return
        if functions is None or function in functions:
            for description, replacement in _variants(node):
                target = node.func if isinstance(node, ast.Call) else node
                occurrence = sum(m.line == node.lineno and m.description == description
                                 for m in found)
                found.append(Mutant(path, function, node.lineno, lines[node.lineno - 1].strip(),
                                    description, occurrence, _splice(source, target, replacement)))
        for child in ast.iter_child_nodes(node):
            if isinstance(node, (ast.AnnAssign, ast.arg)) and child is getattr(
                    node, "annotation", None):
                continue
            visit(child, function)

    for statement in tree.body:
        visit(statement, "<module>")
    return found


def _prepare_copy() -> pathlib.Path:
    """The package, the tests and the pytest configuration, copied to a temporary directory."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="tfbvae-mutation-"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "tfbvae", root / "tfbvae", ignore=ignore)
    shutil.copytree(REPO / "tests", root / "tests", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def _run_tests(root: pathlib.Path, tests: list[str], conftest: bool, timeout: float,
               verbose: bool) -> str:
    """'killed', 'survived' or 'timeout': the tests run in a forked child on the copy."""
    pid = os.fork()
    if pid == 0:  # child: import tfbvae from the copy, run pytest, exit with its status
        try:
            for name in [m for m in sys.modules if m.split(".")[0] in ("tfbvae", "tests")]:
                del sys.modules[name]
            sys.path.insert(0, str(root))
            os.environ["PYTHONPATH"] = str(root)  # subprocesses of the tests import the copy too
            os.chdir(root)
            if not verbose:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            import pytest

            args = ["-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests]
            if not conftest:
                args.insert(0, "--noconftest")
            code = pytest.main(args)
        except BaseException:  # noqa: BLE001  (any failure to run is a failure)
            code = 3
        os._exit(int(code))
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*",
                        help=f"modules to check (default: all): {', '.join(TARGETS)}")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--verbose", action="store_true", help="show pytest's output")
    parser.add_argument("--rerun", metavar="LOG", type=pathlib.Path,
                        help="run only the mutants a previous run's output lists as survivors "
                             "(after tests were added; a killed mutant stays killed by them)")
    args = parser.parse_args(argv)
    names = args.targets or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {sorted(TARGETS)}")

    if args.list:
        for name in names:
            path, _, functions, _ = TARGETS[name]
            for mutant in mutants(path, functions):
                print(mutant.where())
        return 0

    sys.dont_write_bytecode = True  # a mutant must never be read back from a stale .pyc
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as tfbvae/__init__ sets them
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import numpy  # noqa: F401  (imported once here, inherited by every forked child)
    import pytest  # noqa: F401
    import scipy.stats  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import sklearn.svm  # noqa: F401
    if any(TARGETS[name][3] for name in names):
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

    earlier_survivors = set()
    if args.rerun is not None:
        for line in args.rerun.read_text().splitlines():
            words = line.strip().split(" ", 1)
            if words[0] in ("SURVIVED", "equivalent"):
                earlier_survivors.add(words[1].split(" (#")[0])
    root = _prepare_copy()
    unexplained, accepted, total = [], [], 0
    try:
        for name in names:
            path, tests, functions, conftest = TARGETS[name]
            original = (root / path).read_text()
            module_mutants = mutants(path, functions)
            if args.rerun is not None:
                module_mutants = [m for m in module_mutants
                                  if m.where().split(" (#")[0] in earlier_survivors]
                if not module_mutants:
                    continue
            started = time.monotonic()
            if _run_tests(root, tests, conftest, 1800, args.verbose) != "survived":
                print(f"{name}: the unmutated tests fail; fix them first", flush=True)
                return 2
            timeout = 3 * (time.monotonic() - started) + 10  # past it a mutant counts as killed
            killed = 0
            for mutant in module_mutants:
                (root / path).write_text(mutant.new_source)
                result = _run_tests(root, tests, conftest, timeout, args.verbose)
                total += 1
                if result == "survived":
                    where = mutant.where()
                    reason = EQUIVALENT.get(mutant.key()) or EQUIVALENT_LINES.get(mutant.key()[:3])
                    if reason is None:
                        unexplained.append(where)
                        print(f"  SURVIVED {where}", flush=True)
                    else:
                        accepted.append(where)
                        print(f"  equivalent {where}\n      because {reason}", flush=True)
                else:
                    killed += 1
            (root / path).write_text(original)
            print(f"{name}: {killed}/{len(module_mutants)} mutants killed", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{total} mutants; {len(accepted)} accepted as equivalent; "
          f"{len(unexplained)} unexplained survivors")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
