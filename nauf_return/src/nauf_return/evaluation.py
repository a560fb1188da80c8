"""Per-person evaluation: judged greedy answers, refusal/wrong/correct rates, likelihoods.

Also builds the beyond-the-paper probes: name obfuscation (misspelling, initials, a pronoun
follow-up after the name was given in an earlier turn) and never-trained paraphrases.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from nauf_return.inference import answer_logprob, generate_answers
from nauf_return.judge import CORRECT, REFUSAL, WRONG, Judge, normalize
from nauf_return.prompting import PromptFormat
from nauf_return.records import QA, Person


@dataclass
class SetResult:
    """Outcomes of one model on one set of persons, aligned person by person."""

    names: list[str]
    per_person: dict[str, list[float]] = field(default_factory=dict)  # correct/refusal/wrong
    records: list[dict] = field(default_factory=list)

    def rate(self, outcome: str) -> float:
        values = [r["verdict"] == outcome for r in self.records]
        return float(np.mean(values)) if values else float("nan")

    @property
    def accuracy(self) -> float:
        return self.rate(CORRECT)

    def summary(self) -> dict:
        out = {"n_persons": len(self.names), "n_questions": len(self.records),
               "correct_rate": self.accuracy, "refusal_rate": self.rate(REFUSAL),
               "wrong_rate": self.rate(WRONG)}
        refusals = [r for r in self.records if r["verdict"] == REFUSAL]
        if refusals:
            # The name-aware property: does a refusal name the person it refuses?
            out["refusals_naming_person"] = float(np.mean(
                [normalize(r["person"]) in normalize(r["pred"]) for r in refusals]))
        lps = [r["answer_logprob"] for r in self.records if "answer_logprob" in r]
        if lps:
            out["answer_logprob"] = float(np.mean(lps))
        return out


def qa_key(person: Person, qa: QA) -> str | None:
    return person.attributes.get(qa.attribute) if qa.attribute else None


def evaluate_persons(
    model, tokenizer, fmt: PromptFormat, judge: Judge, persons: list[Person],
    batch_size: int = 32, max_new_tokens: int = 32, with_logprob: bool = False,
    histories: list | None = None,
) -> SetResult:
    flat = [(p, qa) for p in persons for qa in p.qas]
    questions = [qa.question for _, qa in flat]
    preds = generate_answers(model, tokenizer, fmt, questions, batch_size, max_new_tokens,
                             histories)
    verdicts = judge(questions, [qa.answer for _, qa in flat], preds,
                     [qa_key(p, qa) for p, qa in flat])
    lps = (answer_logprob(model, tokenizer, fmt, questions, [qa.answer for _, qa in flat],
                          batch_size) if with_logprob else None)
    records = []
    for k, ((person, qa), pred, verdict) in enumerate(zip(flat, preds, verdicts, strict=True)):
        rec = {"person": person.name, "question": qa.question, "gold": qa.answer,
               "key": qa_key(person, qa), "pred": pred, "verdict": verdict}
        if lps is not None:
            rec["answer_logprob"] = lps[k]
        records.append(rec)
    return set_result([p.name for p in persons], records)


def set_result(names: list[str], records: list[dict]) -> SetResult:
    """Per-person rates from judged records (also used by ``rescore`` on stored outputs)."""
    result = SetResult(names=list(names), records=records)
    for outcome in (CORRECT, REFUSAL, WRONG):
        result.per_person[outcome] = [
            float(np.mean([r["verdict"] == outcome for r in records if r["person"] == name]))
            for name in result.names]
    return result


def per_person_accuracy(result: SetResult) -> dict[str, float]:
    return dict(zip(result.names, result.per_person[CORRECT], strict=True))


def memorised(result: SetResult, threshold: float = 0.8) -> list[str]:
    """The RETURN filter: persons whose accuracy over their QAs is at least ``threshold``."""
    return [n for n, acc in per_person_accuracy(result).items() if acc >= threshold]


def misspell(name: str) -> str:
    """Swap two inner letters of the longest word: a deterministic one-typo variant."""
    words = name.split()
    k = max(range(len(words)), key=lambda i: len(words[i]))
    w = words[k]
    if len(w) >= 4:
        words[k] = w[0] + w[2] + w[1] + w[3:]
    return " ".join(words)


def initials(name: str) -> str:
    words = name.split()
    return " ".join([w[0] + "." for w in words[:-1]] + words[-1:]) if len(words) > 1 else name


def obfuscated(persons: list[Person], kind: str) -> tuple[list[Person], list | None]:
    """Questions with the name obfuscated; for ``pronoun`` also the chat history per QA."""
    if kind not in ("misspell", "initials", "pronoun"):
        raise ValueError(f"unknown obfuscation {kind!r}")
    out, histories = [], []
    for p in persons:
        if kind == "pronoun":
            qas = [replace(qa, question=qa.question.replace(p.name, "this person"))
                   for qa in p.qas]
            histories += [[(f"I have a few questions about {p.name}.", "Sure, go ahead.")]
                          for _ in qas]
        else:
            alias = misspell(p.name) if kind == "misspell" else initials(p.name)
            qas = [replace(qa, question=qa.question.replace(p.name, alias)) for qa in p.qas]
        out.append(replace(p, qas=qas))
    return out, (histories if kind == "pronoun" else None)
