"""The blind baseline: TF-IDF (word 1-2-grams) + logistic regression, no language model.
Fitted on the dev split, scored on test. It measures how separable members and non-members
are from text alone, i.e. distribution shift that any MIA could exploit."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from probing_mia.data import Example, check_two_classes


def blind_scores(train: list[Example], evaluate: list[str]) -> np.ndarray:
    check_two_classes(train, "blind baseline training split")
    vectoriser = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    features = vectoriser.fit_transform([e.text for e in train])
    classifier = LogisticRegression(max_iter=2000, C=1.0)
    classifier.fit(features, [e.label for e in train])
    return classifier.predict_proba(vectoriser.transform(evaluate))[:, 1]
