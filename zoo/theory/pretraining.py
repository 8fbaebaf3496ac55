"""The provable advantage of unsupervised pretraining (Ge, Tang, Fan and Jin, ICLR 2024, arXiv 2303.01566), measured.

    python -m zoo.theory.pretraining -o docs/theory

The paper bounds the excess risk of MLE pretraining on m unlabelled samples followed by ERM on n labelled ones by
O~(sqrt(C_Phi / m) + sqrt(C_Psi / n)), against O~(sqrt(C_{Phi o Psi} / n)) for supervised learning alone, when the
latent-variable model is "informative". Its factor-model example, with squared loss (so the excess risk itself
scales like the square of those rates, C / n):

- latent z ~ N(0, I_r), data x = B z + mu, mu ~ N(0, sigma^2 I_d), label y = theta^T z + nu, nu ~ N(0, tau^2);
- pretraining: MLE of the factor model on the m unlabelled x (isotropic noise: probabilistic PCA, whose MLE is the
  top-r eigen-decomposition, Tipping and Bishop 1999) and the representation E[z | x] = M^-1 B^T x,
  M = B^T B + sigma^2 I;
- ERM: least squares of y on the r-dimensional representation from the n labelled samples (C_Psi ~ r);
- supervised baseline: least squares of y on x in R^d (C_{Phi o Psi} ~ d; minimum-norm when n <= d) and ridge.

Excess risk = E[(y_hat - E[y | x])^2] on fresh x, computed in closed form from the true model. The expected
slopes on log-log axes: -1 in n for both (r/n against d/n: the same slope, a d/r lower level), and the pretraining
error term d r / m falls as -1 in m. The non-informative case (``informative=False``): the labels depend on a
direction of x the factor model treats as noise (y = w^T mu + nu, w orthogonal to B's columns), so the learned
representation carries no label information and pretraining does not help, whatever m.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class FactorModel:
    """The data model: x = B z + mu, y = theta^T z + nu (informative) or y = w^T mu + nu (not).

    Args:
        d: data dimension.
        r: latent dimension.
        sigma: noise scale of x.
        label_noise: tau, noise scale of y.
        signal: scale of B's columns (||B e_k|| = signal * sqrt(d), so the factors dominate the noise).
        informative: whether the labels depend on the latent z (the paper's condition) or on the noise mu.
        seed: seed of B, theta and w.
    """

    d: int = 100
    r: int = 3
    sigma: float = 1.0
    label_noise: float = 0.5
    signal: float = 0.3
    informative: bool = True
    seed: int = 0

    def parameters(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(B (d, r), theta (r,), w (d,))`` with ||theta|| = ||w|| = 1 and w orthogonal to B's columns."""
        rng = np.random.default_rng(self.seed)
        basis = np.linalg.qr(rng.standard_normal((self.d, self.r + 1)))[0]
        b = self.signal * np.sqrt(self.d) * basis[:, : self.r] @ np.linalg.qr(rng.standard_normal((self.r, self.r)))[0]
        theta = rng.standard_normal(self.r)
        return b, theta / np.linalg.norm(theta), basis[:, self.r]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(x (n, d), y (n,))``."""
        b, theta, w = self.parameters()
        z = rng.standard_normal((n, self.r))
        mu = self.sigma * rng.standard_normal((n, self.d))
        x = z @ b.T + mu
        signal = z @ theta if self.informative else mu @ w
        return x, signal + self.label_noise * rng.standard_normal(n)

    def bayes_predictor(self) -> np.ndarray:
        """The vector beta* with E[y | x] = beta*^T x (the joint law is Gaussian)."""
        b, theta, w = self.parameters()
        covariance = b @ b.T + self.sigma**2 * np.eye(self.d)
        cross = b @ theta if self.informative else self.sigma**2 * w  # Cov(x, signal)
        return np.linalg.solve(covariance, cross)

    def excess_risk(self, beta: np.ndarray) -> float:
        """E[((beta - beta*)^T x)^2] for a linear predictor beta^T x."""
        b, _, _ = self.parameters()
        delta = beta - self.bayes_predictor()
        return float(delta @ (b @ (b.T @ delta)) + self.sigma**2 * delta @ delta)


def ppca_mle(x: np.ndarray, r: int) -> tuple[np.ndarray, float]:
    """The maximum-likelihood probabilistic PCA (Tipping and Bishop): ``(B_hat (d, r), sigma2_hat)``.

    B_hat = U_r (Lambda_r - sigma2 I)^1/2 (up to a rotation of z, which the downstream ERM absorbs), sigma2_hat = the
    mean of the d - r smallest eigenvalues of the sample covariance (about 0: the data are centred by the model).
    """
    covariance = x.T @ x / len(x)
    values, vectors = np.linalg.eigh(covariance)
    values, vectors = values[::-1], vectors[:, ::-1]
    sigma2 = float(values[r:].mean())
    return vectors[:, :r] * np.sqrt(np.maximum(values[:r] - sigma2, 1e-12)), sigma2


def posterior_map(b: np.ndarray, sigma2: float) -> np.ndarray:
    """The (d, r) matrix P with E[z | x] = P^T x under the factor model (B, sigma2)."""
    m = b.T @ b + sigma2 * np.eye(b.shape[1])
    return b @ np.linalg.inv(m).T


def two_stage(model: FactorModel, m: int | None, n: int, seed: int) -> float:
    """Excess risk of MLE pretraining on m unlabelled samples then least squares on n labelled ones.

    ``m=None`` uses the true factor model instead of the MLE (infinitely many unlabelled samples). The labelled
    sample depends on ``seed`` only, so runs with the same seed and different m share it.
    """
    if m is None:
        b, _, _ = model.parameters()
        sigma2 = model.sigma**2
    else:
        b, sigma2 = ppca_mle(model.sample(m, np.random.default_rng((seed, 0)))[0], model.r)
    p = posterior_map(b, sigma2)
    x, y = model.sample(n, np.random.default_rng((seed, 1)))
    head = np.linalg.lstsq(x @ p, y, rcond=None)[0]
    return model.excess_risk(p @ head)


def supervised(model: FactorModel, n: int, seed: int, ridge: float | None = None) -> float:
    """Excess risk of least squares (minimum-norm when n <= d) or ridge of y on x from n labelled samples (the same
    labelled sample as :func:`two_stage` with this seed)."""
    x, y = model.sample(n, np.random.default_rng((seed, 1)))
    if ridge is None:
        beta = np.linalg.lstsq(x, y, rcond=None)[0]
    else:
        beta = np.linalg.solve(x.T @ x + ridge * np.eye(model.d), x.T @ y)
    return model.excess_risk(beta)


def fitted_slope(sizes: list[int] | np.ndarray, risks: list[float] | np.ndarray) -> float:
    """Least-squares slope of log(risk) against log(size), over the positive risks (a difference of risks, as the
    pretraining term, can fall below 0 by chance at few seeds); NaN with fewer than two."""
    sizes, risks = np.asarray(sizes, dtype=float), np.asarray(risks, dtype=float)
    keep = risks > 0
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes[keep]), np.log(risks[keep]), 1)[0])


def run(ns: tuple[int, ...] = (10, 20, 50, 100, 200, 500, 1000, 2000), ms: tuple[int, ...] = (200, 500, 1000, 2000, 5000, 10000),
        m_fixed: int = 20000, n_fixed: int = 200, seeds: int = 20, model: FactorModel | None = None, ridge: float = 10.0) -> dict:
    """The experiment: excess risk against n (m fixed) for pretraining, OLS and ridge, in the informative and the
    non-informative case; and the pretraining term against m (n fixed): the excess risk with the MLE from m samples
    minus that with the true factor model, on the same labelled sample.

    Args:
        ns: labelled sample sizes.
        ms: unlabelled sample sizes.
        m_fixed: m of the curves against n.
        n_fixed: n of the curve against m.
        seeds: repetitions averaged per point.
        model: the informative model (default: d = 100, r = 3).
        ridge: the ridge baseline's penalty.

    Returns:
        The numbers: ``curves`` (name -> sizes and mean excess risks), ``slopes`` (name -> fitted log-log slope),
        ``setting``.
    """
    model = model or FactorModel()
    violating = dataclasses.replace(model, informative=False)
    curves: dict[str, dict[str, list[float]]] = {}

    def mean(fn) -> float:
        return float(np.mean([fn(1000 + s) for s in range(seeds)]))

    for name, case in (("informative", model), ("not informative", violating)):
        curves[f"pretrain + ERM vs n ({name})"] = {"n": list(ns), "risk": [mean(lambda g, n=n: two_stage(case, m_fixed, n, g)) for n in ns]}
        curves[f"supervised OLS vs n ({name})"] = {"n": list(ns), "risk": [mean(lambda g, n=n: supervised(case, n, g)) for n in ns]}
        curves[f"supervised ridge vs n ({name})"] = {"n": list(ns), "risk": [mean(lambda g, n=n: supervised(case, n, g, ridge)) for n in ns]}
    curves["pretraining term vs m (informative)"] = {
        "m": list(ms), "risk": [mean(lambda g, m=m: two_stage(model, m, n_fixed, g) - two_stage(model, None, n_fixed, g)) for m in ms]}
    slopes = {}
    for name, curve in curves.items():
        sizes = curve.get("n", curve.get("m"))
        if "OLS" in name:  # the minimum-norm OLS peaks at n = d (double descent): fit its n > d branch only
            keep = [k for k, s in enumerate(sizes) if s > 2 * model.d]
            sizes, risks = [sizes[k] for k in keep], [curve["risk"][k] for k in keep]
        else:
            risks = curve["risk"]
        slopes[name] = fitted_slope(sizes, risks)
    setting = {**dataclasses.asdict(model), "m_fixed": m_fixed, "n_fixed": n_fixed, "seeds": seeds, "ridge": ridge}
    return {"curves": curves, "slopes": slopes, "setting": setting}


def plot(results: dict, path: Path) -> None:
    """The figure: excess risk against n (both cases) and against m, log-log, with the bound's slope -1 drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves, slopes = results["curves"], results["slopes"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, case in zip(axes[:2], ("informative", "not informative")):
        for label, style in (("pretrain + ERM", "o-"), ("supervised OLS", "s--"), ("supervised ridge", "^:")):
            name = f"{label} vs n ({case})"
            ax.loglog(curves[name]["n"], curves[name]["risk"], style, label=f"{label} (slope {slopes[name]:.2f})")
        ns = np.array(curves[f"pretrain + ERM vs n ({case})"]["n"], dtype=float)
        anchor = curves[f"pretrain + ERM vs n ({case})"]["risk"][0]
        ax.loglog(ns, anchor * ns[0] / ns, "k-", alpha=0.35, label="bound's slope: 1/n")
        ax.set(title=f"{case}: m = {results['setting']['m_fixed']:,}", xlabel="labelled samples n", ylabel="excess risk")
        ax.legend(fontsize=8)
    name = "pretraining term vs m (informative)"
    ms = np.array(curves[name]["m"], dtype=float)
    axes[2].loglog(ms, curves[name]["risk"], "o-", label=f"MLE - true model (slope {slopes[name]:.2f})")
    axes[2].loglog(ms, curves[name]["risk"][0] * ms[0] / ms, "k-", alpha=0.35, label="bound's slope: 1/m")
    axes[2].set(title=f"informative, n = {results['setting']['n_fixed']:,}: pretraining term", xlabel="unlabelled samples m",
                ylabel="excess risk (MLE) - excess risk (true model)")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict, out: Path) -> None:
    """``numbers.json``, ``excess_risk.png`` and ``README.md`` (the numbers in a table) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "numbers.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out / "excess_risk.png")
    s, curves = results["setting"], results["curves"]
    rows = ["| curve | sizes | mean excess risk | fitted log-log slope |", "|---|---|---|---|"]
    for name, curve in curves.items():
        sizes = curve.get("n", curve.get("m"))
        rows.append(f"| {name} | {', '.join(f'{v:,}' for v in sizes)} | {', '.join(f'{v:.3g}' for v in curve['risk'])} | {results['slopes'][name]:.2f} |")
    pre, ridge = curves["pretrain + ERM vs n (informative)"]["risk"], curves["supervised ridge vs n (informative)"]["risk"]
    ratio = [o / p for o, p in zip(ridge, pre)]
    pre_bad, ridge_bad = curves["pretrain + ERM vs n (not informative)"]["risk"], curves["supervised ridge vs n (not informative)"]["risk"]
    ratio_bad = [p / o for o, p in zip(ridge_bad, pre_bad)]
    text = f"""# The provable advantage of unsupervised pretraining, measured

Regenerate: `python -m zoo.theory.pretraining -o docs/theory` (seconds on a CPU). Paper: Ge, Tang, Fan and Jin,
"On the Provable Advantage of Unsupervised Pretraining", ICLR 2024 ([arXiv 2303.01566](https://arxiv.org/abs/2303.01566)).

Factor model (the paper's example; its exact constants are not matched): z ~ N(0, I_{s['r']}), x = B z + mu in
R^{s['d']}, mu ~ N(0, {s['sigma']}^2 I), ||B e_k|| = {s['signal']} sqrt(d); informative labels y = theta^T z + nu, non-informative
labels y = w^T mu + nu (w orthogonal to B's columns), nu ~ N(0, {s['label_noise']}^2). Pretraining = the MLE of the
factor model (probabilistic PCA) on m unlabelled x, representation E[z | x]; ERM = least squares on the
representation from n labelled samples. Baselines: least squares on x (minimum-norm for n <= d) and ridge
(penalty {s['ridge']}). Excess risk E[(y_hat - E[y|x])^2] in closed form, mean of {s['seeds']} seeds per point.

![excess risk against n and m](excess_risk.png)

{chr(10).join(rows)}

The OLS slope is fitted on n > 2d only (minimum-norm least squares peaks at n = d). The bound's slope is -1 (squared
loss: the square of the paper's sqrt(C/n) and sqrt(C/m) rates).

- Informative: pretraining + ERM falls with slope {results['slopes']['pretrain + ERM vs n (informative)']:.2f} in n
  (bound: -1), with an excess risk {min(ratio):.1f}x to {max(ratio):.1f}x below supervised ridge at the same n
  (C_Psi ~ r = {s['r']} against C_Phi∘Psi ~ d = {s['d']}; OLS is worse still up to n ~ 2d). The pretraining term
  (excess risk with the MLE from m samples minus that with the true factor model, same labelled sample, n =
  {s['n_fixed']:,}) falls with slope {results['slopes']['pretraining term vs m (informative)']:.2f} in m (bound: -1).
- Not informative (the labels live in what the factor model calls noise): pretraining + ERM stays near the variance
  of E[y|x] whatever n (slope {results['slopes']['pretrain + ERM vs n (not informative)']:.2f}: the representation carries no
  label information), {min(ratio_bad):.1f}x to {max(ratio_bad):.1f}x worse than supervised ridge: pretraining does not help.
"""
    (out / "README.md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure the excess risk of MLE pretraining + ERM against supervised learning (factor model).")
    parser.add_argument("-o", "--output", default="docs/theory", help="folder for numbers.json, excess_risk.png and README.md")
    parser.add_argument("--seeds", type=int, default=20, help="repetitions per point")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        raise SystemExit(f"--seeds: expected a positive int, received {args.seeds}")
    results = run(seeds=args.seeds)
    write_report(results, Path(args.output))
    print(json.dumps(results["slopes"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
