"""The one exception type for bad user input."""


class InputError(ValueError):
    """Bad input from the user: a missing file, a malformed field, a wrong shape.

    The message names the file or argument and says what was expected. The CLI prints it as
    one line on stderr and exits with status 2; library callers can catch it as ``ValueError``.
    """
