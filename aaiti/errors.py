"""What the user must change, told apart from a bug.

An error of one of these kinds is the user's to fix: the CLI shows it as one line and exits
2. Anything else raised is the code's fault: the CLI says so, writes the traceback to a file
and exits 70 (``EX_SOFTWARE``) — a bug never reads as a mistake of the user's.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user must change: what they gave, the state they are in, or an action
    a rule refuses."""


class InputError(UserError, ValueError):
    """What the user gave (an option, a setting, a file) is not accepted."""


class StateError(UserError, ValueError):
    """The warehouse or the stack is not yet where the command needs it (run a stage
    first, train a model first)."""


class RefusedError(UserError, PermissionError):
    """A rule refuses the action (a resume while the drawdown has not recovered)."""
