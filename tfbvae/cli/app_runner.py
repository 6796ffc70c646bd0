"""How every app runs: flags checked first, and each refusal one message and an exit status.

``run(main, FLAGS)`` replaces ``absl.app.run(main)`` in ``apps/*.py``, and ``main_of(main,
FLAGS)`` gives each app a ``main(argv)`` that Python can call; every app defines its flags on
its own ``FlagValues``, so importing an app (or two) changes nothing. It parses the flags (an app
defines them without importing TensorFlow, so a wrong flag is answered at once), calls
``main``, and turns what the user has to act on into ``ERROR: <message>`` on stderr (the
message names the problem and the fix) and the exit status, never a traceback:

====== ==============================================================================
status meaning
====== ==============================================================================
0      done
1      failure: the input was usable but the work failed (:class:`tfbvae.errors.Failure`,
       e.g. training diverged)
2      bad input: a wrong, missing or inconsistent flag, stray arguments, or a file or
       directory that cannot be used as given (:class:`tfbvae.errors.BadInput`)
128+N  stopped by signal N (130: Ctrl-C, 143: SIGTERM); training saves first and says how
       to resume (:class:`tfbvae.errors.Interrupted`)
====== ==============================================================================

absl itself exits 1 on a flag error and prints the usage text on ``app.UsageError``; here a
flag error is bad input like any other (2) and is one line. Other exceptions are bugs and keep
their traceback. This module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Callable, Iterator, Sequence

from absl import app, flags

from tfbvae import errors

Main = Callable[[Sequence[str]], "int | None"]

_typed: set[str] | None = None  # the flags named on the command line being parsed


def typed_flag_names() -> set[str] | None:
    """The flags named on the command line being parsed (``--name=v``, ``--name``,
    ``--noname``), not those read from a ``--flagfile``; ``None`` outside
    :func:`command_line`. A validator that refuses a flag only when the user typed it (a
    flagfile is a recipe that later flags may override) reads these."""
    return None if _typed is None else set(_typed)


@contextlib.contextmanager
def command_line(argv: Sequence[str]) -> Iterator[None]:
    """Within: :func:`typed_flag_names` gives the flag names of ``argv`` (up to ``--``)."""
    global _typed
    names = set()
    for token in list(argv)[1:]:
        if token == "--":
            break
        if token.startswith("-") and not token.lstrip("-").startswith("flagfile"):
            name, has_value, _ = token.lstrip("-").partition("=")
            negated = name.startswith("no") and not has_value  # --noname: a boolean set false
            names.update({name, name[2:]} if negated else {name})
    _typed = names
    try:
        yield
    finally:
        _typed = None


def refuse(message: str, exit_code: int) -> int:
    """Prints ``ERROR: message`` on stderr (after anything pending on stdout); returns
    ``exit_code``."""
    sys.stdout.flush()
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    return exit_code


def refuse_flag_error(err: flags.Error) -> int:
    """A flag error refused as bad input: one line (with a pointer to the flags' list when the
    flag is unknown), exit status 2."""
    hint = " (--helpfull lists the flags)" if isinstance(err, flags.UnrecognizedFlagError) else ""
    return refuse(f"{err}{hint}", errors.EXIT_BAD_INPUT)


def parse_flags(argv: Sequence[str]) -> list[str]:
    """absl's flag parsing into ``flags.FLAGS``, a flag error ending the process as bad input."""
    try:
        return flags.FLAGS(list(argv))
    except flags.Error as err:
        sys.exit(refuse_flag_error(err))


def guarded(main: Main, takes_arguments: bool = False) -> Main:
    """``main`` with tfbvae's errors (and Ctrl-C outside training) turned into exit statuses.

    ``takes_arguments``: whether the app takes positional arguments (file names); otherwise
    any is refused, since it is usually a flag written without ``--name=``.
    """

    def run_main(argv: Sequence[str]) -> int | None:
        try:
            if len(argv) > 1 and not takes_arguments:
                raise errors.BadInput(f"unexpected arguments {list(argv[1:])}: flags are written "
                                      "--name=value (--helpfull lists them).")
            return main(argv)
        except errors.TfbvaeError as err:
            return refuse(str(err), err.exit_code)
        except KeyboardInterrupt:
            return refuse("interrupted (Ctrl-C) before finishing.", 128 + signal.SIGINT)

    return run_main


def run(main: Main, app_flags: flags.FlagValues, takes_arguments: bool = False) -> None:
    """Runs an app's ``main`` as a program, as described in the module docstring (exits the
    process). The app's own flags join absl's (``--helpfull``, ``--flagfile``,
    ``--only_check_args``, ``--verbosity``) for the command line; the flags are shared objects,
    so the app reads the parsed values from ``app_flags``."""
    flags.FLAGS.append_flag_values(app_flags)
    for module, module_flags in app_flags.flags_by_module_dict().items():
        for flag in module_flags:  # so that --help and --helpfull list them under the app
            flags.FLAGS.register_flag_by_module(module, flag)

    def parse(argv: Sequence[str]) -> list[str]:
        with command_line(argv):
            rest = parse_flags(argv)
        app_flags.mark_as_parsed()
        return rest

    app.run(guarded(main, takes_arguments), flags_parser=parse)


def main_of(main: Main, app_flags: flags.FlagValues, takes_arguments: bool = False
            ) -> Callable[[Sequence[str]], int]:
    """An app's ``main(argv)`` to call from Python (a test, a notebook): parses ``argv``
    (``argv[0]`` the program's name) into the app's own flags, runs ``main`` and returns the
    exit status that the program would exit with, the refusals printed as one line."""

    def main_with_argv(argv: Sequence[str]) -> int:
        app_flags.unparse_flags()
        try:
            with command_line(argv):
                rest = app_flags(list(argv))
        except flags.Error as err:
            return refuse_flag_error(err)
        return guarded(main, takes_arguments)(rest) or errors.EXIT_OK

    return main_with_argv
