import math

import numpy as np
import pytest
from diffusiondialog.diffusion import GaussianDiffusion
from diffusiondialog.schedule import make_betas, respace


def test_sqrt_schedule_matches_independent_values():
    ab = GaussianDiffusion(2000, "sqrt").alphas_cumprod.numpy()
    for idx, want in [(0, 0.98536), (1, 0.97660), (99, 0.78401), (999, 0.29578)]:
        assert ab[idx] == pytest.approx(want, abs=1e-5)
    assert ab[1998] == pytest.approx(2.02e-4, rel=0.01)
    assert ab[1999] == pytest.approx(2.02e-7, rel=0.01)


@pytest.mark.parametrize("name", ["sqrt", "cosine", "linear"])
def test_schedule_monotonic_and_bounded(name):
    betas = make_betas(name, 2000)
    assert (betas > 0).all() and (betas <= 0.999).all()
    ab = np.cumprod(1 - betas)
    assert (np.diff(ab) < 0).all()


def test_sqrt_first_and_max_beta():
    betas = make_betas("sqrt", 2000)
    assert betas[0] == pytest.approx(0.01464, abs=1e-5)
    assert betas.max() == pytest.approx(0.999) and betas.argmax() == 1999


def test_cosine_matches_closed_form():
    ab = np.cumprod(1 - make_betas("cosine", 1000))
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for i in (0, 100, 500, 900):
        assert ab[i] == pytest.approx(f((i + 1) / 1000) / f(0), rel=1e-9)


def test_ddim50_respacing_is_official_stride():
    assert respace(2000, 50) == list(range(0, 2000, 40))
    assert respace(2000, 2000) == list(range(2000))


def test_trailing_spacing_starts_from_last_step():
    assert respace(2000, 1, "trailing") == [1999]
    kept = respace(2000, 10, "trailing")
    assert len(kept) == 10 and kept[-1] == 1999 and kept[0] == 0


@pytest.mark.parametrize("bad", [0, 2001])
def test_respacing_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="sample_steps"):
        respace(2000, bad)


def test_unknown_schedule_is_named():
    with pytest.raises(ValueError, match="diffusion.schedule"):
        make_betas("quadratic", 10)
