"""One exception per kind of user error; entry points turn them into one line and exit 2."""


class ConfigError(ValueError):
    """A config key, value or run folder that cannot be used as given."""


class DataError(ValueError):
    """An input file or split that does not have the expected schema or content."""
