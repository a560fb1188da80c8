"""Contrastive data augmentation (CDA): name swaps of train questions, with template hygiene.

Templates come from train questions that contain their person's full name verbatim. A template is
dropped when it leaks another entity (a capitalised word that is not the placeholder or the first
word, any part of the source name, or a known name), and a template with gendered pronouns is
used only for targets of the matching gender. The official code has neither filter, so borrowed
templates can carry facts of the source person ("Who is X according to Abrahamic religions?").
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from nauf_return.records import QA, Person
from nauf_return.templates import PLACEHOLDER, render

GENDERED = {
    "male": {"he", "him", "his", "himself"},
    "female": {"she", "her", "hers", "herself"},
}
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")


@dataclass(frozen=True)
class NameTemplate:
    text: str
    source: str


def pronoun_gender(text: str) -> set[str]:
    words = {w.lower() for w in _WORD.findall(text)}
    return {g for g, prons in GENDERED.items() if words & prons}


def hygiene_problem(template: str, source: str, known_names: Sequence[str] = ()) -> str | None:
    """Why the template must be rejected, or None when it is clean."""
    if template.count(PLACEHOLDER) != 1:
        return "placeholder count != 1"
    rest = template.replace(PLACEHOLDER, " ")
    for part in source.replace(",", " ").split():
        if len(part) > 2 and re.search(rf"\b{re.escape(part)}\b", rest):
            return f"leaks part of the source name: {part!r}"
    for name in known_names:
        if name and name in rest:
            return f"mentions another entity: {name!r}"
    words = _WORD.findall(rest)
    starts_with_placeholder = template.lstrip().startswith(PLACEHOLDER)
    for k, word in enumerate(words):
        first = k == 0 and not starts_with_placeholder
        if word[0].isupper() and not first and word != "I":
            return f"capitalised word suggests another entity: {word!r}"
    return None


def template_pool(persons: Sequence[Person], known_names: Sequence[str] = ()) -> list[NameTemplate]:
    """Name templates from every question that contains its person's full name verbatim."""
    pool, seen = [], set()
    for person in persons:
        for qa in person.qas:
            if person.name not in qa.question:
                continue
            text = qa.question.replace(person.name, PLACEHOLDER, 1)
            if text in seen or hygiene_problem(text, person.name, known_names):
                continue
            seen.add(text)
            pool.append(NameTemplate(text=text, source=person.name))
    return pool


def fits(template: NameTemplate, person: Person) -> bool:
    genders = pronoun_gender(template.text)
    if not genders:
        return True
    return person.gender is not None and genders == {person.gender}


def augment_person(
    person: Person, pool: Sequence[NameTemplate], n: int, rng: random.Random,
    exclude: set[str] = frozenset(),
) -> list[str]:
    """``n`` new questions for ``person``: other persons' templates with this exact name.

    ``exclude`` holds the person's test questions: a generated question equal to one of them
    would train on the evaluation set.
    """
    own = {qa.question for qa in person.qas} | set(exclude)
    candidates = [t for t in pool if t.source != person.name and fits(t, person)]
    questions = []
    for template in rng.sample(candidates, len(candidates)):
        question = render(template.text, person.name)
        if question not in own and question not in questions:
            questions.append(question)
        if len(questions) == n:
            break
    return questions


def augment(
    persons: Sequence[Person],
    pool: Sequence[NameTemplate],
    n: int,
    seed: int,
    answer_fn: Callable[[list[str]], list[str]] | None = None,
    exclude: dict[str, set[str]] | None = None,
) -> list[Person]:
    """Return persons with their ``n`` CDA questions appended (``template='cda'``).

    ``answer_fn`` labels the new questions (the original model's greedy answers, for retain
    persons); forget persons need no label because training replaces it with a refusal.
    """
    rng = random.Random(f"{seed}:cda")
    exclude = exclude or {}
    new_questions = [augment_person(p, pool, n, rng, exclude.get(p.name, set()))
                     for p in persons]
    flat = [q for qs in new_questions for q in qs]
    answers = answer_fn(flat) if (answer_fn and flat) else [""] * len(flat)
    out, k = [], 0
    for person, questions in zip(persons, new_questions, strict=True):
        extra = [QA(question=q, answer=a, template="cda")
                 for q, a in zip(questions, answers[k : k + len(questions)], strict=True)]
        k += len(questions)
        out.append(replace(person, qas=list(person.qas) + extra))
    return out
