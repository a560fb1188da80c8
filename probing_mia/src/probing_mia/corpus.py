"""Setting 1/2: a random split of real text (ArxivMIA abstracts, every file, deduplicated) into
background B, members M, non-members N, probe pseudo-members P and pseudo-non-members Q.

Membership is exact because *we* decide which texts the target trains on, and the split is
random, so members and non-members come from one distribution (no temporal shift to exploit).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from probing_mia.config import CorpusConfig
from probing_mia.data import ARXIVMIA_FILES, Example, load_arxivmia, normalise
from probing_mia.errors import DataError


@dataclass
class Corpus:
    background: list[str]
    members: list[str]
    nonmembers: list[str]
    pseudo_members: list[str]
    pseudo_nonmembers: list[str]
    dev: list[Example]  # slices of M (label 1) and N (label 0), for selection only
    test: list[Example]  # the rest of M and N, for reporting only

    def target_texts(self, duplication: int, with_background: bool = True) -> list[str]:
        """What the target is trained on: B ∪ (duplication × M)."""
        return (self.background if with_background else []) + self.members * duplication

    def probe_train(self) -> list[Example]:
        return ([Example(t, 1) for t in self.pseudo_members]
                + [Example(t, 0) for t in self.pseudo_nonmembers])


def unique_texts(source_dir: str) -> list[str]:
    """Every distinct abstract in the ArxivMIA folder (dev/test repeat the full file; one
    train_real item repeats a dev item), in a fixed order."""
    seen, texts = set(), []
    for split in ("full", "train_real"):
        for example in load_arxivmia(source_dir, split):
            key = normalise(example.text)
            if key not in seen:
                seen.add(key)
                texts.append(example.text)
    return texts


def _dev_test(members: list[str], nonmembers: list[str], dev_fraction: float,
              rng: random.Random) -> tuple[list[Example], list[Example]]:
    dev, test = [], []
    for texts, label in ((members, 1), (nonmembers, 0)):
        items = [Example(t, label) for t in texts]
        rng.shuffle(items)
        cut = max(1, round(len(items) * dev_fraction))
        dev += items[:cut]
        test += items[cut:]
    return dev, test


def split_texts(texts: list[str], cfg: CorpusConfig) -> Corpus:
    sizes = [cfg.n_members, cfg.n_nonmembers, cfg.n_pseudo_members, cfg.n_pseudo_nonmembers]
    if sum(sizes) >= len(texts):
        raise DataError(f"corpus: {len(texts)} texts cannot hold n_members + n_nonmembers + "
                        f"n_pseudo_members + n_pseudo_nonmembers = {sum(sizes)} plus background")
    rng = random.Random(cfg.split_seed)
    order = list(texts)
    rng.shuffle(order)
    parts, start = [], 0
    for size in sizes:
        parts.append(order[start:start + size])
        start += size
    background = order[start:]
    if cfg.max_background is not None:
        background = background[:cfg.max_background]
    members, nonmembers, pseudo_members, pseudo_nonmembers = parts
    dev, test = _dev_test(members, nonmembers, cfg.dev_fraction, rng)
    return Corpus(background, members, nonmembers, pseudo_members, pseudo_nonmembers, dev, test)


def build_corpus(cfg: CorpusConfig) -> Corpus:
    return split_texts(unique_texts(cfg.source_dir), cfg)


__all__ = ["ARXIVMIA_FILES", "Corpus", "build_corpus", "split_texts", "unique_texts"]
