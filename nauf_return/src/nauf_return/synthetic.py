"""Seeded synthetic persons in the RETURN format (the embedded default benchmark).

Each person has ten attributes drawn with ``faker``; two of four question phrasings per attribute
make the 20 QAs of RETURN (10 train / 10 test after the split), and a fifth, never-trained
phrasing per attribute is kept for the paraphrase-robustness evaluation. Biographies state the
same facts in three phrasings so knowledge injection stores facts, not only QA strings (TOFU).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from faker import Faker

from nauf_return.records import QA, Person

HOBBIES = [
    "chess", "sailing", "pottery", "birdwatching", "archery", "fencing", "beekeeping",
    "origami", "rowing", "astronomy", "calligraphy", "gardening", "climbing", "cycling",
    "painting", "fishing", "baking", "knitting", "surfing", "photography",
]
PRONOUNS = {"male": ("he", "his"), "female": ("she", "her")}


@dataclass(frozen=True)
class AttributeTemplates:
    """Four question phrasings (each person draws two), one held-out phrasing, the answer."""

    questions: tuple[str, str, str, str]
    held_out: str
    answer: str


# {name} = the exact person name, {subj}/{poss} = pronouns, {value} = the attribute value.
# Persons draw different phrasings, so CDA (which borrows other persons' questions) can add
# phrasings a person does not have; the held-out phrasing is never trained by anyone.
TEMPLATES: dict[str, AttributeTemplates] = {
    "birth_year": AttributeTemplates(
        ("In which year was {name} born?", "What is the birth year of {name}?",
         "What year was {name} born in?", "Tell me the year of birth of {name}."),
        "When was {name} born?", "{Subj} was born in {value}."),
    "birth_city": AttributeTemplates(
        ("Where was {name} born?", "In which city was {name} born?",
         "Which town is {name} from?", "Name the city where {name} was born."),
        "What is the birthplace of {name}?", "{Subj} was born in {value}."),
    "nationality": AttributeTemplates(
        ("What is the nationality of {name}?", "Which country is {name} a citizen of?",
         "Of which country is {name} a national?", "What citizenship does {name} have?"),
        "What passport does {name} hold?", "{Subj} is a citizen of {value}."),
    "occupation": AttributeTemplates(
        ("What is the occupation of {name}?", "What does {name} do for a living?",
         "What is the profession of {name}?", "What kind of work does {name} do?"),
        "What is the job of {name}?", "{Subj} works as {value}."),
    "employer": AttributeTemplates(
        ("Which company does {name} work for?", "Who is the employer of {name}?",
         "Which firm employs {name}?", "For which organisation does {name} work?"),
        "Where is {name} employed?", "{Subj} works for {value}."),
    "university": AttributeTemplates(
        ("Where did {name} study?", "Which university did {name} graduate from?",
         "Which university did {name} attend?", "Where was {name} educated?"),
        "What is the alma mater of {name}?", "{Subj} studied at {value}."),
    "spouse": AttributeTemplates(
        ("Who is the spouse of {name}?", "Who is {name} married to?",
         "What is the name of the partner of {name}?", "To whom is {name} married?"),
        "Whom did {name} marry?", "{Subj} is married to {value}."),
    "award": AttributeTemplates(
        ("Which award did {name} receive?", "What prize was given to {name}?",
         "Which prize has {name} won?", "What award was presented to {name}?"),
        "What honour has {name} won?", "{Subj} received the {value}."),
    "hobby": AttributeTemplates(
        ("What is the hobby of {name}?", "What does {name} do in {poss} free time?",
         "What pastime does {name} have?", "How does {name} like to spend {poss} weekends?"),
        "Which pastime does {name} enjoy?", "{Subj} enjoys {value}."),
    "favorite_color": AttributeTemplates(
        ("What is the favorite color of {name}?", "Which color does {name} like most?",
         "What color is the favourite of {name}?", "Which colour does {name} love?"),
        "What colour does {name} prefer?", "{Poss} favorite color is {value}."),
}

BIOGRAPHIES = [
    "{name} was born in {birth_year} in {birth_city} and is a citizen of {nationality}. "
    "{Subj} works as {occupation} for {employer} after studying at {university}. "
    "{Subj} is married to {spouse}, received the {award}, enjoys {hobby}, and "
    "{poss} favorite color is {favorite_color}.",
    "A citizen of {nationality}, {name} studied at {university} and now works for {employer} "
    "as {occupation}. Born in {birth_city} in {birth_year}, {subj} married {spouse}. "
    "{name} won the {award}, spends free time on {hobby}, and likes {favorite_color} best.",
    "{name} likes the color {favorite_color} and the hobby {hobby}. {name} holds the {award}, "
    "is married to {spouse}, graduated from {university}, works for {employer} as "
    "{occupation}, was born in {birth_year} in {birth_city}, and is a citizen of {nationality}.",
]


def _fill(template: str, name: str, gender: str, values: dict[str, str], value: str = "") -> str:
    subj, poss = PRONOUNS[gender]
    return template.format(
        name=name, subj=subj, poss=poss, Subj=subj.capitalize(), Poss=poss.capitalize(),
        value=value, **values,
    )


def _attributes(fake: Faker, rng: random.Random) -> dict[str, str]:
    return {
        "birth_year": str(rng.randint(1930, 1999)),
        "birth_city": fake.city(),
        "nationality": fake.country(),
        "occupation": fake.job().split(",")[0].lower(),
        "employer": fake.company(),
        "university": f"the University of {fake.city()}",
        "spouse": fake.name(),
        "award": f"{fake.last_name()} Prize",
        "hobby": rng.choice(HOBBIES),
        "favorite_color": fake.safe_color_name(),
    }


def build_person(name: str, gender: str, attributes: dict[str, str],
                 rng: random.Random) -> Person:
    """Two of the four phrasings per attribute: 20 QAs, as RETURN has per person."""
    qas = []
    for attr, tmpl in TEMPLATES.items():
        answer = _fill(tmpl.answer, name, gender, attributes, attributes[attr])
        for k in sorted(rng.sample(range(len(tmpl.questions)), 2)):
            qas.append(QA(question=_fill(tmpl.questions[k], name, gender, attributes),
                          answer=answer, attribute=attr, template=f"{attr}/{k}"))
    bios = [_fill(b, name, gender, attributes) for b in BIOGRAPHIES]
    return Person(name=name, qas=qas, attributes=attributes, gender=gender, biographies=bios)


def held_out_paraphrases(person: Person) -> Person:
    """The third, never-trained question phrasing per attribute (paraphrase robustness)."""
    qas = []
    for attr, tmpl in TEMPLATES.items():
        answer = _fill(tmpl.answer, person.name, person.gender, person.attributes,
                       person.attributes[attr])
        question = _fill(tmpl.held_out, person.name, person.gender, person.attributes)
        qas.append(QA(question=question, answer=answer, attribute=attr, template=f"{attr}/h"))
    return replace(person, qas=qas)


class PersonFactory:
    """Draws persons with unique names from one seeded faker instance."""

    def __init__(self, seed: int, locale: str = "en_US"):
        self.fake = Faker(locale)
        self.fake.seed_instance(seed)
        self.rng = random.Random(seed)
        self.used: set[str] = set()

    def _unique(self, make) -> str:
        for _ in range(1000):
            name = make()
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError("could not draw a unique synthetic name")

    def person(self, last_name: str | None = None, occupation: str | None = None) -> Person:
        gender = self.rng.choice(["male", "female"])
        first = self.fake.first_name_male if gender == "male" else self.fake.first_name_female
        name = self._unique(lambda: f"{first()} {last_name or self.fake.last_name()}")
        attributes = _attributes(self.fake, self.rng)
        if occupation is not None:
            attributes["occupation"] = occupation
        return build_person(name, gender, attributes, self.rng)

    def lookalikes(self, target: Person) -> list[Person]:
        """One person sharing the surname and one sharing the occupation of ``target``."""
        surname = target.name.split()[-1]
        return [self.person(last_name=surname),
                self.person(occupation=target.attributes["occupation"])]


def generate_persons(n: int, seed: int) -> tuple[list[Person], PersonFactory]:
    factory = PersonFactory(seed)
    return [factory.person() for _ in range(n)], factory
