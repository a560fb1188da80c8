import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nauf_return.errors import ConfigError
from nauf_return.records import read_persons, sha256_file
from nauf_return.splits import make_benchmark, read_benchmark, split_persons, write_benchmark
from nauf_return.synthetic import TEMPLATES, generate_persons, held_out_paraphrases
from nauf_return.world import build_world

from conftest import RETURN_DIR, compose

PERSONS, FACTORY = generate_persons(30, seed=3)


def test_synthetic_persons_have_twenty_qas_and_ten_attributes():
    for p in PERSONS:
        assert len(p.qas) == 20 and len(p.attributes) == 10 and len(p.biographies) == 3
        assert all(p.name in qa.question for qa in p.qas)
        assert all(p.attributes[qa.attribute] in qa.answer for qa in p.qas)
        assert {qa.attribute for qa in p.qas} == set(TEMPLATES)
    assert len({p.name for p in PERSONS}) == len(PERSONS)


def test_synthetic_generation_is_seeded():
    again, _ = generate_persons(30, seed=3)
    other, _ = generate_persons(30, seed=4)
    assert [p.name for p in again] == [p.name for p in PERSONS]
    assert [p.attributes for p in again] == [p.attributes for p in PERSONS]
    assert [p.name for p in other] != [p.name for p in PERSONS]


def test_lookalikes_share_surname_or_occupation():
    target = PERSONS[0]
    same_surname, same_job = FACTORY.lookalikes(target)
    assert same_surname.name.split()[-1] == target.name.split()[-1]
    assert same_surname.name != target.name
    assert same_job.attributes["occupation"] == target.attributes["occupation"]


def test_held_out_paraphrases_are_new_questions():
    p = PERSONS[0]
    held = held_out_paraphrases(p)
    assert len(held.qas) == 10
    assert not {qa.question for qa in held.qas} & {qa.question for qa in p.qas}


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_splits_are_disjoint_sized_and_stable(seed):
    bench = make_benchmark(PERSONS, 0.1, 10, 10, seed)
    again = make_benchmark(list(reversed(PERSONS)), 0.1, 10, 10, seed)
    assert len(bench.forget_train) == int(0.1 * len(PERSONS))
    assert not set(bench.forget_names) & {p.name for p in bench.retain_train}
    assert sorted(bench.forget_names) == sorted(again.forget_names)  # input order irrelevant
    for train, test in zip(bench.forget_train + bench.retain_train,
                           bench.forget_test + bench.retain_test, strict=True):
        assert len(train.qas) == len(test.qas) == 10
        assert not {q.question for q in train.qas} & {q.question for q in test.qas}
    by_name = {p.name: p for p in again.retain_train}
    assert all(by_name[p.name].qas == p.qas for p in bench.retain_train)


def test_forget_names_pin_the_split_and_missing_name_errors():
    names = [PERSONS[3].name, PERSONS[7].name]
    forget, retain = split_persons(PERSONS, 0.1, 0, names)
    assert [p.name for p in forget] == names and len(retain) == len(PERSONS) - 2
    with pytest.raises(ConfigError, match="Nobody Atall"):
        split_persons(PERSONS, 0.1, 0, ["Nobody Atall"])


def test_writer_hashes_and_roundtrip(tmp_path):
    bench = make_benchmark(PERSONS, 0.1, 10, 10, 0, bystanders=PERSONS[:2])
    manifest = write_benchmark(tmp_path, bench, {"seed": 0})
    for filename, digest in manifest["files"].items():
        assert sha256_file(tmp_path / filename) == digest
    back = read_benchmark(tmp_path)
    assert back.forget_names == bench.forget_names
    assert back.retain_test[0].qas[0].question == bench.retain_test[0].qas[0].question
    assert back.bystanders[0].name == PERSONS[0].name
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporaries
    again = write_benchmark(tmp_path / "again", make_benchmark(PERSONS, 0.1, 10, 10, 0,
                                                               bystanders=PERSONS[:2]), {"seed": 0})
    assert again["files"] == manifest["files"]


@pytest.mark.parametrize("line, message", [
    ('{"data": []}', "missing field 'name'"),
    ('{"name": "X", "data": {"question": "q"}}', "field 'data' must be list"),
    ('{"name": "X", "data": [{"question": "q"}]}', "missing field 'answer'"),
    ('{"name": "X"}', "'data' or 'qa_list'"),
    ("not json", "not valid JSON"),
])
def test_wrong_schema_names_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"name": "Ok", "qa_list": [{"question": "q", "answer": "a"}]}\n' + line)
    with pytest.raises(ConfigError, match=message) as err:
        read_persons(path)
    assert "bad.jsonl:2" in str(err.value)


def test_missing_data_file():
    with pytest.raises(ConfigError, match="not found"):
        read_persons("/nonexistent/RETURN.jsonl")


@pytest.mark.skipif(not RETURN_DIR.is_dir(), reason="RETURN data folder not present")
def test_official_return_splits_load():
    bench = read_benchmark(RETURN_DIR)
    assert len(bench.forget_train) == 46 and len(bench.retain_train) == 418
    assert all(len(p.qas) == 10 for p in bench.forget_test + bench.retain_test)
    assert any(p.name == "William Murray, 1st Earl of Mansfield"
               for p in read_persons(RETURN_DIR / "prediction_Acc80%.jsonl"))
    # Pre-unlearning accuracy from the shipped NLI labels (privacy.md A.1.3).
    labels = [qa.pred_correct for p in bench.forget_test for qa in p.qas]
    assert sum(labels) / len(labels) == pytest.approx(0.8565, abs=1e-3)


@pytest.mark.skipif(not RETURN_DIR.is_dir(), reason="RETURN data folder not present")
def test_return_world_forget_person_missing(tmp_path):
    cfg = compose(["data=return", f"data.path={RETURN_DIR}", "data.forget_names=[Nobody]"])
    with pytest.raises(ConfigError, match="Nobody"):
        build_world(cfg.data)
    # The same error from a single RETURN file that is split here.
    src = RETURN_DIR / "prediction_Acc80%.jsonl"
    one = tmp_path / "subset.jsonl"
    one.write_text("".join(src.read_text().splitlines(keepends=True)[:30]))
    cfg = compose(["data=return", f"data.path={one}", "data.forget_names=[Nobody]"])
    with pytest.raises(ConfigError, match="Nobody"):
        build_world(cfg.data)
    cfg = compose(["data=return", f"data.path={one}"])
    world = build_world(cfg.data)
    assert len(world.bench.forget_train) == 3 and len(world.known) == 30
    json.dumps([p.name for p in world.known])


def test_return_subsample_counts_and_bystanders(tmp_path):
    # A split directory in the official layout (3 forget / 27 retain persons).
    write_benchmark(tmp_path, make_benchmark(PERSONS, 0.1, 10, 10, 0), {"seed": 0})
    base = ["data=return", f"data.path={tmp_path}"]
    world = build_world(compose(base + ["data.max_forget=2", "data.max_retain=5",
                                        "data.n_bystanders=3"]).data)
    bench, full = world.bench, read_benchmark(tmp_path)
    assert bench.forget_names == full.forget_names[:2]
    assert [p.name for p in bench.retain_train] == [p.name for p in full.retain_train[:5]]
    # Bystanders: the next retain-split persons, all 20 QAs, learnt by M_o, never unlearnt.
    assert [p.name for p in bench.bystanders] == [p.name for p in full.retain_train[5:8]]
    assert all(len(p.qas) == 20 for p in bench.bystanders)
    assert {p.name for p in world.known} == set(bench.forget_names) | {
        p.name for p in bench.retain_train + bench.bystanders}
    proportional = build_world(compose(base + ["data.max_persons=10"]).data).bench
    assert (len(proportional.forget_train), len(proportional.retain_train)) == (1, 9)
    with pytest.raises(ConfigError, match="3 forget / 27 retain"):
        build_world(compose(base + ["data.max_retain=25", "data.n_bystanders=3"]).data)
