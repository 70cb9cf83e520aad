"""Pool-based active learning for linear probes on cached features (Gal, Islam and Ghahramani, "Deep Bayesian Active
Learning with Image Data", ICML 2017), as in the CS545 Real-Fake-Image-Detection study.

A run starts from a class-balanced random labelled set of ``initial`` pool images, trains the head
(:func:`fakebench.train.probe.fit_head`, with dropout), scores the unlabelled pool with ``T`` stochastic passes of
the dropout head (MC dropout), queries the ``query`` best-scoring images, and repeats for ``rounds`` rounds. After every
round (round 0 = the initial set) the head is evaluated on a held-out test split (accuracy, real acc, fake acc at
``prob > 0.5``; AP and AUC), and the whole state -- config, data digests, labelled indices, queried indices per round,
metrics per round -- is written atomically to a JSON file, so an interrupted run resumes at the next round and ends
identical to an uninterrupted one (every round draws its randomness from ``(seed, round)`` alone).

Acquisition scores (higher = queried first; ``p_t`` = fake probability of pass ``t``, ``p`` = their mean,
``H(q) = -q log q - (1 - q) log(1 - q)``):

* ``random``: uniform;
* ``entropy`` (max entropy): ``H(p)``;
* ``margin`` (least confidence / smallest margin; the two agree for two classes): ``1 - |2p - 1|``;
* ``bald``: ``H(p) - mean_t H(p_t)``, the mutual information between the label and the weights;
* ``variation_ratios``: ``1 - (count of the modal decision over the T passes) / T``;
* ``mean_std``: the standard deviation of ``p_t`` over the passes (the mean over the two classes of their equal
  standard deviations);
* ``coreset``: k-center greedy on the features (Sener and Savarese, ICLR 2018), no model uncertainty.

Ties are broken by a seeded random order, not by index.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from fakebench.core.errors import DataError, FakebenchError
from fakebench.core.files import atomic_write_bytes, atomic_write_json, atomic_write_text
from fakebench.train.probe import HeadConfig, binary_scores, fit_head, head_scores

__all__ = ["STRATEGIES", "MC_STRATEGIES", "ALConfig", "mc_dropout_probs", "acquisition_scores", "kcenter_greedy",
           "select", "run_active_learning", "learning_curves", "summarise_curves", "label_budget", "write_report",
           "STATE_SCHEMA"]

STATE_SCHEMA = "fakebench.active_learning/1"
STRATEGIES = ("random", "entropy", "margin", "bald", "variation_ratios", "mean_std", "coreset")
#: Strategies that need the T stochastic passes.
MC_STRATEGIES = ("entropy", "margin", "bald", "variation_ratios", "mean_std")
_EPS = 1e-12


@dataclass(frozen=True)
class ALConfig:
    """One active-learning run.

    Attributes:
        strategy: one of :data:`STRATEGIES`.
        seed: seeds the initial set, the head fits, the dropout passes and tie-breaking.
        initial: size of the initial labelled set (class-balanced; at least 2).
        query: images queried per round.
        rounds: number of query rounds after the initial fit.
        mc_samples: ``T`` stochastic dropout passes (MC-based strategies; also used for ``entropy``/``margin`` on the
            MC-averaged probability, as in Gal et al.).
        head: head training settings; its ``dropout`` is the MC dropout rate.
    """

    strategy: str
    seed: int = 0
    initial: int = 20
    query: int = 10
    rounds: int = 10
    mc_samples: int = 20
    head: HeadConfig = field(default_factory=lambda: HeadConfig(dropout=0.5))

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            from fakebench.core.errors import UnknownNameError
            from fakebench.core.names import suggest

            raise UnknownNameError(suggest(self.strategy, STRATEGIES, "active-learning strategy"))
        if self.initial < 2 or self.query < 1 or self.rounds < 0 or self.mc_samples < 1:
            raise FakebenchError(f"Active learning needs initial >= 2, query >= 1, rounds >= 0 and mc_samples >= 1; "
                                 f"got {self.initial}, {self.query}, {self.rounds}, {self.mc_samples}.")
        if self.strategy in ("bald", "variation_ratios", "mean_std") and not self.head.dropout > 0:
            raise FakebenchError(f"Strategy {self.strategy!r} needs MC dropout: set a head dropout > 0.")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["head"] = self.head.to_dict()
        return data


def _rng(seed: int, *parts: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *map(int, parts)])


def _torch_gen(seed: int, *parts: int) -> torch.Generator:
    state = np.random.SeedSequence([int(seed), *map(int, parts)]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state >> np.uint64(1)))


@torch.no_grad()
def mc_dropout_probs(fc: torch.nn.Linear, features: np.ndarray, *, dropout: float, samples: int,
                     generator: torch.Generator) -> np.ndarray:
    """``(T, N)`` float64 fake probabilities from ``T`` passes of ``fc`` with inverted dropout on the features.

    Args:
        fc: the head on raw features. features: ``(N, D)`` float32. dropout: drop probability in [0, 1).
        samples: ``T``. generator: seeds the masks.
    """
    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    if dropout <= 0:
        p = torch.sigmoid(fc(x).reshape(-1)).double().numpy()
        return np.repeat(p[None], samples, axis=0)
    out = np.empty((samples, x.shape[0]), dtype=np.float64)
    for t in range(samples):
        keep = (torch.rand(x.shape, generator=generator) >= dropout).float() / (1.0 - dropout)
        out[t] = torch.sigmoid(fc(x * keep).reshape(-1)).double().numpy()
    return out


def _entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def acquisition_scores(strategy: str, probs: np.ndarray) -> np.ndarray:
    """Acquisition score of each pool image from MC-dropout probabilities (higher = query first).

    Args:
        strategy: one of :data:`MC_STRATEGIES` (see the module docstring for the formulas).
        probs: ``(T, N)`` fake probabilities in [0, 1].

    Returns:
        ``(N,)`` float64 scores.

    Raises:
        UnknownNameError: not an uncertainty strategy.
    """
    probs = np.asarray(probs, dtype=np.float64)
    mean = probs.mean(0)
    if strategy == "entropy":
        return _entropy(mean)
    if strategy == "margin":
        return 1.0 - np.abs(2.0 * mean - 1.0)
    if strategy == "bald":
        return _entropy(mean) - _entropy(probs).mean(0)
    if strategy == "variation_ratios":
        fake_votes = (probs > 0.5).sum(0)
        modal = np.maximum(fake_votes, probs.shape[0] - fake_votes)
        return 1.0 - modal / probs.shape[0]
    if strategy == "mean_std":
        return probs.std(0)
    from fakebench.core.errors import UnknownNameError
    from fakebench.core.names import suggest

    raise UnknownNameError(suggest(strategy, MC_STRATEGIES, "uncertainty strategy"))


def kcenter_greedy(features: np.ndarray, labelled: Sequence[int], candidates: Sequence[int], k: int) -> list[int]:
    """k-center greedy (Sener and Savarese 2018): repeatedly take the candidate farthest (Euclidean, on features
    standardised over all rows) from the labelled set and the picks so far.

    Args:
        features: ``(N, D)``. labelled: indices already labelled (non-empty). candidates: pool indices.
        k: how many to pick (at most ``len(candidates)``).

    Returns:
        ``k`` candidate indices in pick order.

    Memory: the standardised features (N x D float64) plus a (candidates x 256) block of squared distances
    (``|a|^2 + |b|^2 - 2 a.b``, clipped at 0), never the (candidates x 256 x D) differences.
    """
    x = np.asarray(features, dtype=np.float64)
    x = (x - x.mean(0)) / np.where(x.std(0) > 1e-12, x.std(0), 1.0)
    cand = np.asarray(candidates, dtype=np.int64)
    pool = x[cand]  # (C, D): memory stays O(N x D) plus a (C, 256) block, never (C, 256, D)
    pool_sq = (pool ** 2).sum(1)
    dist = np.full(len(cand), np.inf)
    for start in range(0, len(labelled), 256):
        centres = x[np.asarray(labelled[start:start + 256])]
        block = pool_sq[:, None] + (centres ** 2).sum(1)[None] - 2.0 * (pool @ centres.T)  # squared distances
        dist = np.minimum(dist, np.maximum(block, 0.0).min(1))
    picks: list[int] = []
    for _ in range(min(k, len(cand))):
        j = int(np.argmax(dist))
        picks.append(int(cand[j]))
        dist = np.minimum(dist, ((pool - pool[j]) ** 2).sum(-1))
        dist[j] = -np.inf
    return picks


def _top(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the ``k`` highest scores; ties broken by a random order from ``rng``."""
    tiebreak = rng.random(len(scores))
    order = np.lexsort((tiebreak, -np.asarray(scores)))
    return order[:k]


def select(strategy: str, *, fc: torch.nn.Linear | None, features: np.ndarray, labelled: Sequence[int],
           pool: Sequence[int], k: int, config: ALConfig, rnd: int) -> tuple[list[int], list[float]]:
    """Pick ``k`` pool indices for round ``rnd``.

    Returns:
        ``(indices, scores)``: chosen indices into ``features`` and their acquisition scores (``nan`` for
        ``random``/``coreset``).
    """
    pool = np.asarray(pool, dtype=np.int64)
    k = min(k, len(pool))
    rng = _rng(config.seed, rnd, 2)
    if strategy == "random":
        chosen = rng.choice(pool, size=k, replace=False)
        return [int(i) for i in chosen], [math.nan] * k
    if strategy == "coreset":
        return kcenter_greedy(features, list(labelled), pool, k), [math.nan] * k
    probs = mc_dropout_probs(fc, features[pool], dropout=config.head.dropout, samples=config.mc_samples,
                             generator=_torch_gen(config.seed, rnd, 3))
    scores = acquisition_scores(strategy, probs)
    pos = _top(scores, k, rng)
    return [int(pool[p]) for p in pos], [float(scores[p]) for p in pos]


def _digest(features: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(features, dtype="<f4").tobytes())
    h.update(np.ascontiguousarray(labels, dtype="<i8").tobytes())
    return h.hexdigest()


def _initial(labels: np.ndarray, n: int, seed: int) -> list[int]:
    rng = _rng(seed, 0, 1)
    real, fake = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    n_fake = n // 2
    n_real = n - n_fake
    if len(real) < n_real or len(fake) < n_fake:
        raise DataError(f"The pool has {len(real)} real and {len(fake)} fake images; the initial labelled set needs "
                        f"{n_real} real and {n_fake} fake. Lower --initial.")
    picks = np.concatenate([rng.choice(real, n_real, replace=False), rng.choice(fake, n_fake, replace=False)])
    return sorted(int(i) for i in picks)


def run_active_learning(pool_features: np.ndarray, pool_labels: np.ndarray, test_features: np.ndarray,
                        test_labels: np.ndarray, config: ALConfig, *, state_path: str | os.PathLike,
                        resume: bool = True, on_round: Callable[[dict[str, Any]], None] | None = None
                        ) -> dict[str, Any]:
    """Run (or resume) one active-learning run and return its state.

    Args:
        pool_features: ``(N, D)`` float32 features of the labelled pool (labels revealed only when queried).
        pool_labels: ``(N,)`` int 0 real / 1 fake.
        test_features: ``(M, D)`` float32 held-out test features. test_labels: ``(M,)``.
        config: the run.
        state_path: JSON state file, rewritten atomically after every round.
        resume: continue from ``state_path`` when it exists (its config and data digests must match).
        on_round: called with each new round record after it is saved (tests use it to interrupt).

    Returns:
        The state dict: ``schema``, ``config``, ``data`` (sizes and digests), ``initial`` (indices), ``rounds`` (one
        record per round: ``round``, ``n_labelled``, ``queried``, ``scores``, and the test metrics ``acc``,
        ``real_acc``, ``fake_acc``, ``ap``, ``auc``, ``n``), ``complete``.

    Raises:
        DataError: bad shapes, too few images, or a state file from another config or data.
    """
    x = np.asarray(pool_features, dtype=np.float32)
    y = np.asarray(pool_labels).astype(np.int64)
    xt = np.asarray(test_features, dtype=np.float32)
    yt = np.asarray(test_labels).astype(np.int64)
    if x.ndim != 2 or y.shape != (len(x),) or xt.ndim != 2 or yt.shape != (len(xt),) or xt.shape[1] != x.shape[1]:
        raise DataError(f"Shapes do not fit: pool {x.shape}/{y.shape}, test {xt.shape}/{yt.shape}.")
    needed = config.initial + config.query * config.rounds
    if needed > len(x):
        raise DataError(f"initial + query x rounds = {needed} exceeds the pool of {len(x)} images.")
    data = {"n_pool": int(len(x)), "n_test": int(len(xt)), "dim": int(x.shape[1]),
            "pool_digest": _digest(x, y), "test_digest": _digest(xt, yt)}
    path = Path(state_path)
    state: dict[str, Any]
    if resume and path.is_file():
        state = json.loads(path.read_text())
        if state.get("schema") != STATE_SCHEMA or state.get("config") != config.to_dict() or state.get("data") != data:
            raise DataError(f"Active-learning state {path} was written for another config or data set; delete it or "
                            f"pass another --output.")
    else:
        state = {"schema": STATE_SCHEMA, "config": config.to_dict(), "data": data,
                 "initial": _initial(y, config.initial, config.seed), "rounds": [], "complete": False}
    labelled = list(state["initial"])
    for rec in state["rounds"]:
        labelled += rec["queried"]
    fc = None
    if state["rounds"]:
        fc = fit_head(x[labelled], y[labelled], config=config.head, seed=(config.seed, len(state["rounds"]) - 1, 4))
    for rnd in range(len(state["rounds"]), config.rounds + 1):
        queried: list[int] = []
        scores: list[float] = []
        if rnd > 0:
            taken = set(labelled)
            pool = [i for i in range(len(x)) if i not in taken]
            queried, scores = select(config.strategy, fc=fc, features=x, labelled=labelled, pool=pool,
                                     k=config.query, config=config, rnd=rnd)
            labelled += queried
        if len(set(y[labelled].tolist())) < 2:
            raise DataError("The labelled set holds one label only; use a larger --initial.")
        fc = fit_head(x[labelled], y[labelled], config=config.head, seed=(config.seed, rnd, 4))
        metrics = binary_scores(yt, head_scores(fc, xt))
        record = {"round": rnd, "n_labelled": len(labelled), "n_fake_labelled": int(y[labelled].sum()),
                  "queried": queried, "scores": [None if math.isnan(s) else s for s in scores], **metrics}
        state["rounds"].append(record)
        state["complete"] = rnd == config.rounds
        atomic_write_json(path, state)
        if on_round is not None:
            on_round(record)
    return state


# -- curves over seeds --------------------------------------------------------------------------------------------
def learning_curves(states: Sequence[dict[str, Any]]) -> "Any":
    """Long table of every round of every run: ``strategy, seed, round, n_labelled, acc, real_acc, fake_acc, ap,
    auc`` (a pandas DataFrame; metrics are fractions in [0, 1])."""
    import pandas as pd

    rows = []
    for st in states:
        for rec in st["rounds"]:
            rows.append({"strategy": st["config"]["strategy"], "seed": st["config"]["seed"], "round": rec["round"],
                         "n_labelled": rec["n_labelled"], **{k: rec[k] for k in ("acc", "real_acc", "fake_acc",
                                                                               "ap", "auc")}})
    return pd.DataFrame(rows)


def summarise_curves(curves: "Any", *, metrics: Sequence[str] = ("acc", "ap"), level: float = 0.95) -> "Any":
    """Mean and Student-t confidence interval over seeds, per strategy and label budget.

    Args:
        curves: :func:`learning_curves` output.
        metrics: columns to summarise.
        level: CI level.

    Returns:
        DataFrame with ``strategy, n_labelled, n_seeds`` and per metric ``<m>_mean, <m>_lo, <m>_hi`` (fractions;
        the interval clipped to [0, 1]; NaN with one seed or when every seed gives the same value, where the
        seeds' spread cannot give an interval).
    """
    import pandas as pd
    from scipy import stats

    rows = []
    for (strategy, n), group in curves.groupby(["strategy", "n_labelled"], sort=True):
        row: dict[str, Any] = {"strategy": strategy, "n_labelled": int(n), "n_seeds": int(group["seed"].nunique())}
        for m in metrics:
            vals = group[m].to_numpy(dtype=np.float64)
            mean = float(np.mean(vals))
            spread = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            if spread > 0:  # clipped to the metric's range: a 2-seed t-interval can reach [-0.84, 2.02]
                half = float(stats.t.ppf(0.5 + level / 2, len(vals) - 1) * spread / np.sqrt(len(vals)))
                lo, hi = max(0.0, mean - half), min(1.0, mean + half)
            else:  # one seed, or seeds that agree: no spread to estimate from; a zero-width interval would lie
                lo = hi = float("nan")
            row.update({f"{m}_mean": mean, f"{m}_lo": lo, f"{m}_hi": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def label_budget(summary: "Any", target: float, *, metric: str = "acc") -> "Any":
    """Smallest labelled-set size at which each strategy's mean ``metric`` reaches ``target``.

    Returns:
        DataFrame ``strategy, target, budget`` (``budget`` is ``None`` when never reached), plus ``best`` (the best
        mean reached) and ``at`` (its budget).
    """
    import pandas as pd

    rows = []
    for strategy, group in summary.groupby("strategy", sort=True):
        group = group.sort_values("n_labelled")
        hit = group[group[f"{metric}_mean"] >= target]
        best = group.loc[group[f"{metric}_mean"].idxmax()]
        rows.append({"strategy": strategy, "target": target,
                     "budget": int(hit["n_labelled"].iloc[0]) if len(hit) else None,
                     "best": float(best[f"{metric}_mean"]), "at": int(best["n_labelled"])})
    return pd.DataFrame(rows)


def write_report(states: Sequence[dict[str, Any]], output: str | os.PathLike, *, target: float,
                 title: str = "Active learning") -> dict[str, Path]:
    """Write ``curves.csv`` (every run and round), ``summary.csv``/``summary.md`` (mean and 95% CI over seeds),
    ``budget.csv`` and ``curves.png`` (accuracy and AP vs labelled images, mean with the CI band) into ``output``.

    Returns:
        ``{"curves", "summary", "summary_md", "budget", "png"}`` paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fakebench.eval.tables import to_markdown

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    curves = learning_curves(states)
    summary = summarise_curves(curves)
    budget = label_budget(summary, target)
    paths = {"curves": out / "curves.csv", "summary": out / "summary.csv", "summary_md": out / "summary.md",
             "budget": out / "budget.csv", "png": out / "curves.png"}
    atomic_write_text(paths["curves"], curves.to_csv(index=False))
    atomic_write_text(paths["summary"], summary.to_csv(index=False))
    atomic_write_text(paths["budget"], budget.to_csv(index=False))
    pct = summary.copy()
    for col in pct.columns:
        if col.endswith(("_mean", "_lo", "_hi")):
            pct[col] = (100 * pct[col]).round(1)
    bud = budget.copy()
    bud["target"] = (100 * bud["target"]).round(1)
    bud["best"] = (100 * bud["best"]).round(1)
    bud["budget"] = ["not reached" if v is None or v != v else str(int(v)) for v in bud["budget"]]
    text = (f"# {title}\n\nMean and 95% Student-t CI over seeds (accuracy and AP on the held-out test split, %).\n\n"
            f"{to_markdown(pct)}\n\n## Label budget to reach {100 * target:.1f}% mean accuracy\n\n{to_markdown(bud)}\n")
    atomic_write_text(paths["summary_md"], text)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, name in ((axes[0], "acc", "accuracy"), (axes[1], "ap", "AP")):
        for strategy, group in summary.groupby("strategy", sort=True):
            g = group.sort_values("n_labelled")
            ax.plot(g["n_labelled"], 100 * g[f"{metric}_mean"], marker="o", ms=3, label=strategy)
            ax.fill_between(g["n_labelled"], 100 * g[f"{metric}_lo"], 100 * g[f"{metric}_hi"], alpha=0.15)
        ax.set_xlabel("labelled images")
        ax.set_ylabel(f"test {name} (%)")
        ax.grid(alpha=0.3)
    axes[0].axhline(100 * target, color="grey", ls="--", lw=0.8)
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(paths["png"], buffer.getvalue())
    return paths
