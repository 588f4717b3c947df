"""The one exception type for mistakes a user can fix (bad path, bad option, bad data)."""


class UserError(ValueError):
    """A clear, one-line problem with the user's input; stage scripts print it without a traceback.

    It subclasses ValueError so library code that validates arguments can raise either.
    """
