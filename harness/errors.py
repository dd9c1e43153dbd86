"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class HarnessError(Exception):
    """A user-facing error: bad input, a missing dataset, an unreachable server.

    The message is a single line that names the file, line or setting at fault.
    """


class DataError(HarnessError):
    """Malformed or inconsistent dataset files."""


class SettingsError(HarnessError):
    """An unknown or ill-typed ``--set key=value``."""
