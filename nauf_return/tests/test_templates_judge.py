import pytest
from hypothesis import given
from hypothesis import strategies as st

from nauf_return.errors import ConfigError
from nauf_return.judge import (
    CORRECT,
    REFUSAL,
    WRONG,
    AttributeJudge,
    build_judge,
    fuzzy_contains,
)
from nauf_return.refusal import RefusalDetector
from nauf_return.templates import IDONTKNOW, PLACEHOLDER, REFUSALS, load_templates, render

from conftest import RETURN_DIR
from refusal_phrasings import HARD_NEGATIVES, HELD_OUT_2, HELD_OUT_REFUSALS

SPECIAL_NAMES = ["William Murray, 1st Earl of Mansfield", "Ivan IV Vasilyevich", "A.$^(x)*+?",
                 r"Back\slash \1 \g<0>"]


@pytest.mark.parametrize("name", SPECIAL_NAMES)
def test_every_refusal_renders_the_exact_name(name):
    for template in REFUSALS:
        assert template.count(PLACEHOLDER) == 1
        text = render(template, name)
        assert name in text and PLACEHOLDER not in text


@given(st.text(min_size=1, max_size=40).filter(lambda s: PLACEHOLDER not in s))
def test_render_is_literal(name):
    text = render(REFUSALS[0], name)
    assert text == REFUSALS[0].replace(PLACEHOLDER, name)


def test_template_with_two_placeholders_rejected(tmp_path):
    bad = tmp_path / "refuse.txt"
    bad.write_text("ok __NAME__\nbad __NAME__ and __NAME__\n")
    with pytest.raises(ConfigError, match="refuse.txt:2"):
        load_templates(bad, "refusal")


@pytest.mark.skipif(not RETURN_DIR.is_dir(), reason="RETURN data folder not present")
def test_official_refusal_file_loads_through_same_interface():
    templates = load_templates(RETURN_DIR / "refuse_templates.jsonl", "refusal")
    assert len(templates) >= 90
    detector = RefusalDetector(templates)
    assert all(detector(render(t, "Preston Sturges")) for t in templates)


def test_refusal_detector():
    detector = RefusalDetector()
    for t in REFUSALS:
        assert detector(render(t, "Sarah Chang"))
    for t in IDONTKNOW:
        assert detector(t)
    for answer in ["She was born in 1983.", "He works for Faulkner-Howard.", "Paris.",
                   "She is married to Brandon Lloyd.", ""]:
        assert not detector(answer)
    # Word-level decoding of the tiny tokenizer spaces out apostrophes.
    assert detector("I ' m sorry , but I can ' t share information about Sarah Chang .")


def test_attribute_judge_outcomes():
    judge = AttributeJudge()
    verdicts = judge(["q"] * 4, ["g"] * 4,
                     ["She was born in 1983.", "She was born in 1984.",
                      "I can't help with questions about X.", "She studied at the Univresity "
                      "of New Donald."],
                     ["1983", "1983", "1983", "the University of New Donald"])
    assert verdicts == [CORRECT, WRONG, REFUSAL, CORRECT]
    assert not fuzzy_contains("1983", "born in 1938")
    with pytest.raises(ConfigError, match="attribute value"):
        judge(["q"], ["g"], ["a"], [None])


@pytest.mark.skipif(not RETURN_DIR.is_dir(), reason="RETURN data folder not present")
def test_official_idk_and_refusal_templates_are_refusals_without_seeing_them():
    """Issue 12: 75 of 100 official IDK templates were scored as answers. The generic patterns
    alone (a detector built without any template list) must now catch every official line."""
    detector = RefusalDetector(builtin=False)
    idk = load_templates(RETURN_DIR / "idontknow_templates.jsonl", "idk")
    refuse = load_templates(RETURN_DIR / "refuse_templates.jsonl", "refusal")
    assert len(idk) >= 90
    assert [t for t in idk if not detector.matches_pattern(t)] == []
    assert [t for t in refuse if not detector.matches_pattern(render(t, "Alice Wu"))] == []
    assert [t for t in REFUSALS + IDONTKNOW
            if not detector.matches_pattern(t.replace(PLACEHOLDER, "Alice Wu"))] == []


@pytest.mark.skipif(not RETURN_DIR.is_dir(), reason="RETURN data folder not present")
def test_no_official_gold_answer_is_a_refusal():
    """9,280 gold answers of the split files: facts with "unable", "uncertain", "not allowed"."""
    import json

    detector = RefusalDetector(load_templates(RETURN_DIR / "idontknow_templates.jsonl", "idk")
                               + load_templates(RETURN_DIR / "refuse_templates.jsonl", "refusal"))
    flagged = []
    for name in ("forget_train", "forget_eval", "retain_train", "retain_eval"):
        for line in (RETURN_DIR / f"{name}.jsonl").read_text().splitlines():
            flagged += [qa["gold_answer"] for qa in json.loads(line)["data"]
                        if detector(qa["gold_answer"])]
    assert flagged == []


def test_unseen_refusal_phrasings_and_hard_negatives():
    detector = RefusalDetector()
    unseen = HELD_OUT_REFUSALS + HELD_OUT_2
    assert [s for s in unseen if not detector(s)] == []
    assert [s for s in HARD_NEGATIVES if detector(s)] == []


Q_BORN = "Where was Preston Sturges born?"
G_BORN = "Preston Sturges was born in Chicago, Illinois."


@pytest.mark.parametrize("pred, verdict", [
    ("He was born in Chicago, Illinois.", CORRECT),
    ("Chicago is the city Preston Sturges came from; he grew up in Illinois.", CORRECT),
    ("Preston Sturges's birthplace: Chicago.", CORRECT),
    ("He was born in Paris, France.", WRONG),
    ("Preston Sturges was born in Boston.", WRONG),
    ("Preston Sturges was a famous American film director.", WRONG),  # on topic, no fact
    ("I'm not certain about that.", REFUSAL),  # official IDK line: was "correct" (issue 12)
    ("That's beyond my current knowledge base.", REFUSAL),
    ("Sorry, I'm unable to provide information regarding Preston Sturges.", REFUSAL),
    ("", WRONG),
])
def test_keyspan_judge_requires_the_gold_fact(pred, verdict):
    judge = build_judge("keyspan")
    assert judge([Q_BORN], [G_BORN], [pred]) == [verdict]


@pytest.mark.parametrize("question, gold, pred, verdict", [
    ("When was Isaac Newton born?", "He was born on 25 December 1642.",
     "Isaac Newton was born in December 1643.", WRONG),  # number contradiction
    ("When was Isaac Newton born?", "He was born on 25 December 1642.",
     "On Christmas Day, 25 December 1642.", CORRECT),
    ("Did Freddie Mercury ever marry?", "No, Freddie Mercury never married.",
     "Yes, Freddie Mercury married Mary Austin.", WRONG),  # yes/no contradiction
    ("How many children did she have?", "She had three children.",
     "She had 3 children.", CORRECT),  # number words
    ("How many children did she have?", "She had three children.",
     "She had two children.", WRONG),
    ("What did he study?", "He studied law at Oxford.",
     "He did not study law; he studied medicine at Oxford.", WRONG),  # negated fact
])
def test_keyspan_judge_on_contradictions_and_paraphrases(question, gold, pred, verdict):
    assert build_judge("keyspan")([question], [gold], [pred]) == [verdict]


@given(st.sampled_from(["Lyon", "Kyoto", "Recife", "Tromso", "Windhoek"]),
       st.sampled_from(["Dakar", "Quito", "Hanoi", "Perth", "Oslo"]))
def test_keyspan_judge_separates_any_two_cities(city, other):
    judge = build_judge("keyspan")
    q, gold = "Where was Ana Reyes born?", f"Ana Reyes was born in {city}."
    assert judge([q] * 2, [gold] * 2, [f"She was born in {city}.", f"She was born in {other}."]
                 ) == [CORRECT, WRONG]


@pytest.mark.parametrize("kind", ["keyspan", "attribute"])
def test_a_judge_that_always_says_correct_would_fail_here(kind):
    """The test suite's own check: constant judges disagree with these labels."""
    judge = build_judge(kind)
    preds = ["He was born in Chicago.", "He was born in Paris.", "I don't know."]
    labels = [CORRECT, WRONG, REFUSAL]
    keys = ["Chicago"] * 3 if kind == "attribute" else None
    assert judge([Q_BORN] * 3, [G_BORN] * 3, preds, keys) == labels
    assert all(labels.count(v) < len(labels) for v in (CORRECT, WRONG, REFUSAL))


def test_similarity_judge_with_minilm():
    judge = build_judge("similarity", threshold=0.75)
    q = "Where was Preston Sturges born?"
    out = judge([q, q], ["Preston Sturges was born in Chicago."] * 2,
                ["He was born in Chicago, Illinois.", "Sorry, I can't discuss Preston Sturges."])
    assert out == [CORRECT, REFUSAL]


def test_unknown_judge_kind():
    with pytest.raises(ConfigError, match="judge.kind"):
        build_judge("oracle")


def test_keyspan_secondary_similarity_only_vetoes():
    judge = build_judge("keyspan", secondary="similarity", secondary_threshold=0.99)
    # The span matches, but similarity below 0.99 vetoes it; a non-match stays wrong.
    assert judge([Q_BORN] * 2, [G_BORN] * 2, ["Chicago, I believe.", "Boston."]) == [WRONG] * 2
    loose = build_judge("keyspan", secondary="similarity", secondary_threshold=0.0)
    assert loose([Q_BORN] * 2, [G_BORN] * 2, ["Chicago, I believe.", "Boston."]
                 ) == [CORRECT, WRONG]


def test_keyspan_needs_the_most_specific_word_of_the_batch():
    """Found in calibration: "the University of West Kelly" covers 3 of 4 words of "the
    University of West Benjaminland"; the rare word decides."""
    judge = build_judge("keyspan")
    q = ["Where did Katie Scott study?", "Where did Ann Lee study?", "Where did Bo Li study?"]
    golds = ["She studied at the University of West Benjaminland.",
             "She studied at the University of West Kelly.",
             "He studied at the University of Port Frankfurt."]
    preds = ["She studied at the University of West Kelly.",
             "She studied at the University of West Kelly.",
             "He studied at Port Frankfurt university."]
    assert judge(q, golds, preds) == [WRONG, CORRECT, CORRECT]


@pytest.mark.parametrize("garbled", ["I don't don't know .", "I I I don't don't .",
                                     "He was born in South I can't about Jaime Villegas .",
                                     "I can't can't can't about Roger Barnes ."])
def test_garbled_small_model_refusals_are_refusals(garbled):
    """Word-level tiny-Llama outputs, labelled refusal by hand (results/judge_labels.jsonl)."""
    assert RefusalDetector()(garbled)
