import pytest
from hypothesis import given
from hypothesis import strategies as st

from nauf_return.errors import ConfigError
from nauf_return.judge import (
    CORRECT,
    REFUSAL,
    WRONG,
    AttributeJudge,
    RefusalDetector,
    build_judge,
    fuzzy_contains,
)
from nauf_return.templates import IDONTKNOW, PLACEHOLDER, REFUSALS, load_templates, render

from conftest import RETURN_DIR

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


def test_similarity_judge_with_minilm():
    judge = build_judge("similarity", threshold=0.75)
    q = "Where was Preston Sturges born?"
    out = judge([q, q], ["Preston Sturges was born in Chicago."] * 2,
                ["He was born in Chicago, Illinois.", "Sorry, I can't discuss Preston Sturges."])
    assert out == [CORRECT, REFUSAL]


def test_unknown_judge_kind():
    with pytest.raises(ConfigError, match="judge.kind"):
        build_judge("oracle")
