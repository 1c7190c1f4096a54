"""The exception type whose message is meant for the user, and the warning that a run file holds more than this
version knows."""


class DiffstudioError(Exception):
    """Bad input or a failed operation, with a message that says what to do.

    The CLI prints it as one line and the GUI shows it in a dialog; anything
    else escaping is a bug and keeps its traceback.
    """


class RunFileWarning(UserWarning):
    """A run file holds fields this version does not know (a newer version's): they are kept, and not used. The CLI
    prints it as a note."""
