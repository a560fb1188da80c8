import pytest
from diffusiondialog.metrics import (
    bert_words,
    bleu_plato,
    bleu_sacre,
    distinct_inter,
    distinct_intra,
    response_suite,
    self_bleu,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def test_distinct_hand_examples():
    assert distinct_inter([["a", "b"], ["a", "c"]], 1) == pytest.approx(3 / 4)
    assert distinct_inter([["a", "b"], ["a", "c"]], 2) == pytest.approx(1.0)
    assert distinct_inter([["a", "a", "a"]], 1) == pytest.approx(1 / 3)
    assert distinct_inter([["a", "a", "a"]], 2) == pytest.approx(1 / 2)


def test_intra_and_inter_differ():
    hyps = [["a", "b"], ["a", "b"]]
    assert distinct_intra(hyps, 1) == 1.0 and distinct_inter(hyps, 1) == 0.5


def test_empty_hypothesis_list_raises():
    with pytest.raises(ValueError, match="empty"):
        distinct_inter([], 1)


@given(st.lists(st.lists(st.sampled_from("abcde"), max_size=6), min_size=1, max_size=8),
       st.integers(1, 3))
@settings(max_examples=50, deadline=None)
def test_distinct_is_a_fraction(hyps, n):
    d = distinct_inter(hyps, n)
    assert 0.0 <= d <= 1.0
    assert distinct_inter(hyps + hyps, n) <= d + 1e-12  # duplicating text never adds diversity


def test_bert_words_merge_wordpieces():
    assert bert_words("Playing FOOTBALL!") == ["playing", "football", "!"]
    assert "".join(bert_words("unaffable")) == "unaffable"


def test_identical_scores_per_variant():
    h = ["i love pizza with cheese", "where are you from"]
    assert bleu_sacre(h, h, 1) == pytest.approx(1.0)
    assert bleu_sacre(h, h, 2) == pytest.approx(1.0)
    # NLTK method7 (PLATO) on a perfect match: method5 gives (1 + 1 + 1 + 1) / 3 for p1.
    assert bleu_plato(h, h, 1) == pytest.approx(4 / 3)


def test_plato_bleu_equals_official_recipe():
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    hyp, ref = "I'm playing football today", "we are playing football tomorrow!"
    want = sentence_bleu([["we", "are", "playing", "football", "tomorrow", "!"]],
                         ["i", "'", "m", "playing", "football", "today"], (0.5, 0.5, 0, 0),
                         smoothing_function=SmoothingFunction().method7)
    assert bleu_plato([hyp], [ref], 2) == pytest.approx(want)


def test_bleu1_hand_computed():
    # 2 of 4 unigrams match and the lengths are equal: BLEU-1 = 0.5 (sacreBLEU).
    assert bleu_sacre(["a b x y"], ["a b c d"], 1) == pytest.approx(0.5)
    # Brevity penalty exp(1 - 6/3) with unigram precision 1.
    import math
    assert bleu_sacre(["the cat sat"], ["the cat sat on the mat"], 1) == pytest.approx(
        math.exp(-1), rel=1e-6)


def test_self_bleu_bounds():
    assert self_bleu(["a b c d", "a b c d", "a b c d"]) == pytest.approx(1.0)
    assert self_bleu(["the cat sat down", "green ideas sleep furiously"]) < 0.1
    with pytest.raises(ValueError):
        self_bleu(["only one"])


def test_response_suite_counts_unique_samples():
    out = response_suite([["a b", "a b", "c d"], ["x", "y", "z"]], ["a b", "x"])
    assert out["unique_per_context"] == pytest.approx((2 + 3) / 2)
    assert out["bleu1_sacrebleu_13a"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="references"):
        response_suite([["a"]], ["a", "b"])
