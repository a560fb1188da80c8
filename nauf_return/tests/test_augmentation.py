import random

from nauf_return.augmentation import augment, fits, hygiene_problem, template_pool
from nauf_return.records import QA, Person
from nauf_return.splits import make_benchmark
from nauf_return.synthetic import generate_persons
from nauf_return.templates import PLACEHOLDER, REFUSALS, render
from nauf_return.training import UnlearningDataset

PERSONS, _ = generate_persons(12, seed=5)


def test_pool_templates_have_one_placeholder_and_no_source_name():
    pool = template_pool(PERSONS, [p.name for p in PERSONS])
    assert pool
    for t in pool:
        assert t.text.count(PLACEHOLDER) == 1
        assert all(part not in t.text for part in t.source.split())


def test_cda_swaps_in_the_target_name_only():
    bench = make_benchmark(PERSONS, 0.25, 10, 10, seed=0)
    pool = template_pool(bench.forget_train + bench.retain_train)
    held = {p.name: {qa.question for qa in p.qas} for p in bench.forget_test + bench.retain_test}
    out = augment(bench.retain_train, pool, 5, seed=0, exclude=held)
    for before, after in zip(bench.retain_train, out, strict=True):
        new = [qa for qa in after.qas if qa.template == "cda"]
        assert len(new) == 5 and after.qas[:10] == before.qas
        assert not {qa.question for qa in new} & held[after.name]  # never a test question
        for qa in new:
            assert after.name in qa.question
            others = [p.name for p in PERSONS if p.name != after.name]
            assert not any(o in qa.question for o in others)
            assert qa.question not in {q.question for q in before.qas}


def test_cda_retain_labels_come_from_the_answer_function():
    pool = template_pool(PERSONS)

    def stub(questions):  # deterministic stand-in for M_o's greedy answers
        return [f"answer to {q}" for q in questions]
    halves = make_benchmark(PERSONS, 0.25, 10, 10, seed=1).retain_train[:3]
    a = augment(halves, pool, 5, seed=1, answer_fn=stub)
    b = augment(halves, pool, 5, seed=1, answer_fn=stub)
    assert a == b and all(len(p.qas) == 15 for p in a)
    for p in a:
        for qa in p.qas[10:]:
            assert qa.answer == f"answer to {qa.question}"


def test_hygiene_rejects_leaks_and_pronoun_mismatch():
    src = "Preston Sturges"
    assert hygiene_problem(f"Who is {PLACEHOLDER} according to Abrahamic religions?", src)
    assert hygiene_problem(f"Why did {PLACEHOLDER} leave Sturges Films?", src)
    assert hygiene_problem(f"Did {PLACEHOLDER} marry Jane Doe?", src, ["Jane Doe"])
    assert hygiene_problem(f"{PLACEHOLDER} and {PLACEHOLDER}", src)
    assert hygiene_problem(f"Where was {PLACEHOLDER} born?", src) is None
    assert hygiene_problem(f"{PLACEHOLDER} studied where?", src) is None
    she = Person("Ann Lee", [], gender="female")
    unknown = Person("Pat Doe", [])
    from nauf_return.augmentation import NameTemplate

    his = NameTemplate(f"What does {PLACEHOLDER} do in his free time?", "Bob Roe")
    neutral = NameTemplate(f"Where was {PLACEHOLDER} born?", "Bob Roe")
    assert not fits(his, she) and not fits(his, unknown) and fits(neutral, she)


def test_forget_items_get_name_aware_refusals():
    from nauf_return.model import word_tokenizer
    from nauf_return.prompting import PromptFormat

    forget = [Person("William Murray, 1st Earl of Mansfield", [QA("Who was he?", "A judge.")])]
    retain = [Person("Ann Lee", [QA("Where was Ann Lee born?", "In Paris.")])]
    texts = [forget[0].name, "Who was he? A judge. Where was Ann Lee born? In Paris."] + REFUSALS
    tok = word_tokenizer(texts + ["I don't know."])
    ds = UnlearningDataset(forget, retain, tok, PromptFormat("{question}"), REFUSALS,
                           ["I don't know."], seed=0)
    item = ds[0]
    refusal = tok.decode([t for t, lab in zip(item["refuse"]["input_ids"],
                                              item["refuse"]["labels"], strict=True)
                          if lab != -100], skip_special_tokens=True)
    rendered = {tok.decode(tok(render(t, forget[0].name))["input_ids"]) for t in REFUSALS}
    assert refusal in rendered
    ds.set_epoch(1)
    draws = {tuple(ds[0]["refuse"]["input_ids"]) for _ in range(3)}
    assert len(draws) == 1  # seeded per (epoch, index): resumable and DDP-consistent
    random.seed(0)
