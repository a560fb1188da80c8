"""One exception type for user errors, so entry points can print one clear line."""


class ConfigError(ValueError):
    """A config value, input file or option is not what the program expects."""
