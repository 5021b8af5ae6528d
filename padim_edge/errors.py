"""The one exception type that the CLI turns into a single line and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a missing file, an empty folder, a bad flag or shape.

    The message must name the problem in one line; the CLI prints it without a traceback.
    """
