"""Errors a user can act on.

Every failure caused by input (a missing file, a wrong shape, a bad name) is
raised as an :class:`EdgeSlimError` carrying the problem and the fix, so the CLI
prints one line and exits 2, and the GUI shows a message instead of a traceback.
A fix names the user's controls with :func:`core.controls.ask`, so each
front-end words it for itself (``str(exc)`` for the CLI, ``exc.for_app()``).
"""

from __future__ import annotations

from core.controls import for_app, for_cli


class EdgeSlimError(Exception):
    """A problem with the user's input, with the way to fix it."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem.rstrip(".")
        self.fix = fix.rstrip(".")
        super().__init__(str(self))

    def _worded(self, render) -> str:
        problem, fix = render(self.problem), render(self.fix)
        if not fix:
            return f"{problem}."
        return f"{problem}. {fix[0].upper()}{fix[1:]}."

    def __str__(self) -> str:
        """The message in the CLI's words (controls as flags)."""
        return self._worded(for_cli)

    def for_app(self) -> str:
        """The message in the window's words (controls as the app labels them)."""
        return self._worded(for_app)


class ModelLoadError(EdgeSlimError):
    """The model spec or file could not be turned into a model."""


class DataError(EdgeSlimError):
    """The dataset spec or folder could not be turned into a dataset."""


class ShapeMismatchError(EdgeSlimError):
    """The model and the data disagree on input shape or number of classes."""


class UntrustedPickleError(ModelLoadError):
    """The file is a full pickle and the user has not said they trust it.

    Its own type so the GUI can ask for the trust confirmation instead of only
    showing the message.
    """
