"""The errors that end a run with one line saying what is wrong and what to do."""


class UsageError(Exception):
    """Bad input from the user (option, file, environment). Exit code 2, one line, no traceback."""


class TargetError(UsageError):
    """The target cannot be set up or reached; the message says what to do."""


class ExecutorError(RuntimeError):
    """A command could not be run at all (missing tool, timeout, transport down)."""
