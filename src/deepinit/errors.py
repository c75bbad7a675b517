"""The one exception type for bad user input."""


class DeepinitError(ValueError):
    """A problem with what the user asked for: a bad option, a missing or corrupt file.

    The message is one line that names the problem and the fix. The command line
    prints it as ``Error: <message>`` and exits with status 2, without a traceback.
    """
