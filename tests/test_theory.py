"""The pretraining experiment (zoo.theory.pretraining): the closed-form risk, the MLE, and the fitted slopes' signs."""

import numpy as np
import pytest

from zoo.theory.pretraining import FactorModel, fitted_slope, main, posterior_map, ppca_mle, run, two_stage


@pytest.fixture(scope="module")
def results():
    return run(ns=(20, 50, 200, 500), ms=(200, 1000, 5000), m_fixed=5000, n_fixed=200, seeds=4)


def test_the_bayes_predictor_has_zero_excess_risk_and_others_do_not():
    model = FactorModel()
    beta = model.bayes_predictor()
    assert model.excess_risk(beta) == pytest.approx(0.0, abs=1e-12)
    assert model.excess_risk(beta + 0.1) > 0
    # The true factor model's posterior map followed by the exact head reproduces E[y | x].
    b, theta, _ = model.parameters()
    assert np.allclose(posterior_map(b, model.sigma**2) @ theta, beta)


def test_the_mle_recovers_the_factor_subspace():
    model = FactorModel(seed=1)
    x, _ = model.sample(20000, np.random.default_rng(0))
    b_hat, sigma2 = ppca_mle(x, model.r)
    b, _, _ = model.parameters()
    projection = b_hat @ np.linalg.pinv(b_hat)
    assert np.linalg.norm(b - projection @ b) / np.linalg.norm(b) < 0.05
    assert sigma2 == pytest.approx(model.sigma**2, rel=0.05)


def test_fitted_slopes_have_the_bounds_sign(results):
    slopes = results["slopes"]
    assert -1.6 < slopes["pretrain + ERM vs n (informative)"] < -0.6  # the bound's C_Psi / n
    assert -1.6 < slopes["pretraining term vs m (informative)"] < -0.6  # the bound's C_Phi / m
    assert slopes["supervised ridge vs n (not informative)"] < -0.3  # supervised still learns...
    assert slopes["pretrain + ERM vs n (not informative)"] > -0.3  # ...but pretraining does not help


def test_pretraining_beats_supervised_only_when_informative(results):
    curves = results["curves"]
    informative = np.array(curves["pretrain + ERM vs n (informative)"]["risk"]) < np.array(curves["supervised ridge vs n (informative)"]["risk"])
    not_informative = np.array(curves["pretrain + ERM vs n (not informative)"]["risk"]) > np.array(curves["supervised ridge vs n (not informative)"]["risk"])
    assert informative.all() and not_informative[1:].all()


def test_fitted_slope_and_the_oracle_case():
    assert fitted_slope([10, 100, 1000], [1.0, 0.1, 0.01]) == pytest.approx(-1.0)
    model = FactorModel()
    assert two_stage(model, None, 50, 0) < two_stage(model, 100, 50, 0)  # the true model is better than a 100-sample MLE


def test_the_command_writes_the_figure_and_the_numbers(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import zoo.theory.pretraining as experiment

    monkeypatch.setattr(experiment, "run", lambda seeds: run(ns=(20, 50), ms=(200, 1000), m_fixed=1000, n_fixed=50, seeds=seeds))
    assert main(["-o", str(tmp_path), "--seeds", "1"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"numbers.json", "excess_risk.png", "README.md"}
    assert "pretraining term vs m" in (tmp_path / "README.md").read_text()
