"""Typed config checking: a resolved config (nested dicts) is matched against nested dataclasses.

Unknown keys (``+eval.bootstrapp=5`` included), wrong types and out-of-range values raise one
``ConfigError`` naming the dotted key, before any split, descriptor or checkpoint work. Ranges are
declared on the dataclass fields (``bounded(default, low=..)``), so the schema is the documentation.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


class ConfigError(ValueError):
    """A config field is missing, unknown, of the wrong type or out of range."""


def bounded(default, low=None, high=None, above=None, choices=None):
    """A dataclass field with a declared range: ``low <= v <= high``, ``v > above``, ``v in choices``."""
    meta = {"low": low, "high": high, "above": above, "choices": choices}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check_range(value, meta: typing.Mapping, path: str) -> None:
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if item is None:  # optional fields (overlays) are unset
            continue
        if meta.get("choices") is not None and item not in meta["choices"]:
            raise ConfigError(f"{path}: expected one of {list(meta['choices'])}, got {item!r}")
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if meta.get("low") is not None and item < meta["low"]:
            raise ConfigError(f"{path}: must be >= {meta['low']}, got {item!r}")
        if meta.get("high") is not None and item > meta["high"]:
            raise ConfigError(f"{path}: must be <= {meta['high']}, got {item!r}")
        if meta.get("above") is not None and item <= meta["above"]:
            raise ConfigError(f"{path}: must be > {meta['above']}, got {item!r}")


def _convert(value: Any, hint: Any, path: str) -> Any:
    """``value`` checked against the annotation ``hint`` (recursively); returns the typed value."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, path)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: got {value!r}, {errors}")
    if dataclasses.is_dataclass(hint):
        return check_section(value, hint, path)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{path}: expected {len(args)} items, got {list(value)!r}")
            pairs = enumerate(zip(value, args, strict=True))
            return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in pairs)
        item = args[0] if args else Any
        out = [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        item = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, item, _where(path, str(k))) for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (
        not isinstance(value, hint) or (hint is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{path}: expected {hint.__name__}, got {value!r}")
    return value


def check_section(values: Any, schema: type, path: str = ""):
    """An instance of the dataclass ``schema`` built from the mapping ``values``; every unknown key,
    wrong type or out-of-range value raises ``ConfigError`` naming ``path.key``."""
    where = path or "top level"
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a section (mapping), got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"{', '.join(_where(path, k) for k in unknown)}: unknown key(s) in {where}; "
            f"expected some of {sorted(fields)}"
        )
    hints = typing.get_type_hints(schema)
    typed = {}
    for key, value in values.items():
        typed[key] = _convert(value, hints[key], _where(path, key))
        _check_range(typed[key], fields[key].metadata, _where(path, key))
    missing = [
        k
        for k, f in fields.items()
        if k not in typed
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{', '.join(_where(path, k) for k in missing)}: missing in {where}")
    try:
        return schema(**typed)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{where}: {error}") from None


def overlay(schema: type) -> type:
    """An all-optional copy of ``schema`` (every field ``T | None = None``, same ranges): the
    shape of a section another entry point owns but a shared experiment file may set, so its
    keys are still checked here."""
    hints = typing.get_type_hints(schema)
    fields = [
        (f.name, hints[f.name] | None, dataclasses.field(default=None, metadata=f.metadata))
        for f in dataclasses.fields(schema)
    ]
    return dataclasses.make_dataclass(f"{schema.__name__}Overlay", fields)
