"""The paper's question template: every statement is wrapped before activations are read."""

from __future__ import annotations

from probing_mia.errors import ConfigError

PREFIX = "Here is a statement:\n\n"
SUFFIX = "\n\nIs the above statement correct? Answer: "


def wrap(statement: str) -> str:
    return PREFIX + statement + SUFFIX


def wrap_to_fit(statement: str, tokenizer, max_tokens: int) -> str:
    """The wrapped text, with the statement's trailing words dropped until the whole prompt fits
    (the template's end, where the last token is read, must never be truncated)."""
    words = statement.split(" ")
    text = wrap(statement)
    while len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1 > max_tokens:
        if len(words) <= 1:
            raise ConfigError(f"model.max_length={max_tokens} is too small for the question "
                              "template; raise it")
        words = words[:max(1, int(len(words) * 0.9))]
        text = wrap(" ".join(words))
    return text
