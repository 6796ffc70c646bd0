"""The errors tfbvae reports to a user, and the exit status each means to the apps.

Every app turns these into one line on stderr (the message names the problem and the fix) and
an exit status, never a traceback:

* :class:`BadInput` (exit 2): the flags, a file or a directory the user gave cannot be used as
  given (a missing or corrupt run record, a run directory locked by another process, a data set
  that is not there, settings that would change a run's model).
* :class:`Failure` (exit 1): the input was fine but the work failed (training diverged).
* :class:`Interrupted` (exit 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM): a
  signal stopped the work after saving it; the message says how to resume.

This module imports nothing, so the apps can use it before TensorFlow is loaded.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class TfbvaeError(Exception):
    """An error whose message is meant for the user; :attr:`exit_code` is the apps' status."""

    exit_code = EXIT_FAILURE


class BadInput(TfbvaeError):
    """The user's input (flags, files, directories) cannot be used; the message says why."""

    exit_code = EXIT_BAD_INPUT


class Failure(TfbvaeError):
    """The work itself failed (e.g. the loss became NaN); the message says what to change."""

    exit_code = EXIT_FAILURE


class Interrupted(TfbvaeError):
    """A signal stopped the work after its state was saved; exits ``128 + signum``."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
