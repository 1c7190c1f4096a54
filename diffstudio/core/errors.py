"""The one exception type whose message is meant for the user."""


class DiffstudioError(Exception):
    """Bad input or a failed operation, with a message that says what to do.

    The CLI prints it as one line and the GUI shows it in a dialog; anything
    else escaping is a bug and keeps its traceback.
    """
