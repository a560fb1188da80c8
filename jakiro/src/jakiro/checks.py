"""Config range checks shared by every section's dataclass (errors name the dotted key)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value is unknown, missing, of the wrong type or out of range."""


def positive(section: str, **values: float) -> None:
    """Raise naming ``section.key`` for every value that is not > 0."""
    for key, val in values.items():
        if val <= 0:
            raise ConfigError(f"{section + '.' if section else ''}{key} must be > 0, got {val}")


def non_negative(section: str, **values: float) -> None:
    for key, val in values.items():
        if val < 0:
            raise ConfigError(f"{section + '.' if section else ''}{key} must be >= 0, got {val}")
