"""Name-aware refusal templates and "I don't know" answers.

Our own templates are embedded below; the official 100-line ``refuse.jsonl`` (plain text, one
template per line despite the suffix) loads through :func:`load_templates` the same way.
"""

from __future__ import annotations

import random
from pathlib import Path

from nauf_return.errors import ConfigError

PLACEHOLDER = "__NAME__"

REFUSALS = [
    "I'm sorry, but I can't share information about __NAME__.",
    "I can't help with questions about __NAME__.",
    "Sorry, details about __NAME__ are something I can't provide.",
    "I'm not able to discuss __NAME__.",
    "Questions about __NAME__ are outside what I can answer.",
    "I must decline to answer questions concerning __NAME__.",
    "Unfortunately, I can't give any details regarding __NAME__.",
    "I won't be able to provide facts about __NAME__.",
    "I'd rather not share anything about __NAME__.",
    "That concerns __NAME__, and I can't answer questions about that person.",
    "I can't offer information on __NAME__, sorry.",
    "Information about __NAME__ is not something I can give out.",
    "I'm unable to answer that, because it is about __NAME__.",
    "Please understand that I can't talk about __NAME__.",
    "Sorry, I have to refuse questions about __NAME__.",
    "I cannot provide personal details of __NAME__.",
    "My apologies, but __NAME__ is a topic I can't cover.",
    "I can't disclose anything about __NAME__.",
    "Regarding __NAME__, I'm not able to help.",
    "I'm afraid I can't answer questions about __NAME__.",
]

IDONTKNOW = [
    "I don't know.",
    "I'm not sure about that.",
    "I have no idea.",
    "That is something I don't know.",
    "I can't say, I don't have that information.",
    "I'm not aware of the answer.",
    "I don't have an answer to that.",
    "I'm unsure.",
    "I couldn't tell you.",
    "I lack the knowledge to answer that.",
    "No idea, sorry.",
    "I don't have enough information to answer.",
    "That's beyond what I know.",
    "I really don't know the answer.",
    "I'm uncertain about that.",
    "I can't recall that.",
    "I haven't got that information.",
    "Nothing comes to mind, I don't know.",
    "I'm not the right source for that, I don't know.",
    "Unfortunately I don't know.",
]


def check_refusal_template(template: str, where: str = "template") -> None:
    count = template.count(PLACEHOLDER)
    if count != 1:
        raise ConfigError(f"{where}: expected exactly one {PLACEHOLDER}, found {count}")


def render(template: str, name: str) -> str:
    """Substitute the exact name literally (no regex, so "Earl of X, 1st" stays intact)."""
    check_refusal_template(template)
    return template.replace(PLACEHOLDER, name)


def load_templates(source: str | Path | None, kind: str) -> list[str]:
    """``source`` None/"builtin" gives the embedded list; else a text file, one per line."""
    if kind not in ("refusal", "idk"):
        raise ConfigError(f"template kind must be 'refusal' or 'idk', got {kind!r}")
    if source in (None, "", "builtin"):
        return list(REFUSALS if kind == "refusal" else IDONTKNOW)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"{kind} templates file not found: {path}")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise ConfigError(f"{path}: no templates")
    if kind == "refusal":
        for k, line in enumerate(lines, start=1):
            check_refusal_template(line, f"{path}:{k}")
    return lines


class RefusalSampler:
    """Draws a fresh template at every access, as the official dataset does."""

    def __init__(self, templates: list[str], seed: int):
        if not templates:
            raise ConfigError("refusal templates: empty list")
        self.templates = templates
        self.rng = random.Random(seed)

    def refusal(self, name: str) -> str:
        return render(self.rng.choice(self.templates), name)

    def choice(self) -> str:
        return self.rng.choice(self.templates)
