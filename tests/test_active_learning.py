"""Active learning on cached features (Gal et al. 2017): acquisition functions, MC dropout, seeded runs that save
after every round and resume to the same result, learning curves with CIs and label budgets, and the CLI.

The data are synthetic feature vectors (two Gaussian blobs) or, for the CLI, tiny images through a RANDOMLY
INITIALISED timm ``test_vit`` backbone (no pretrained weights offline).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from fakebench.core.errors import DataError, FakebenchError, UnknownNameError
from fakebench.train.active import (ALConfig, acquisition_scores, kcenter_greedy, label_budget, learning_curves,
                                    mc_dropout_probs, run_active_learning, summarise_curves, write_report)
from fakebench.train.probe import HeadConfig, fit_head, head_scores


def _blobs(n: int, d: int = 8, seed: int = 0, shift: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[:, 0] += np.where(y == 1, shift, -shift)
    x[:, 1] *= 5  # an uninformative high-variance direction
    return x, y


def test_acquisition_scores_follow_their_definitions():
    # columns: confident fake, always 0.5, disagreeing passes (0.1 / 0.9), mildly unsure 0.7
    probs = np.array([[0.99, 0.5, 0.1, 0.7],
                      [0.99, 0.5, 0.9, 0.7],
                      [0.99, 0.5, 0.1, 0.7],
                      [0.99, 0.5, 0.9, 0.7]])
    ent = acquisition_scores("entropy", probs)
    assert np.isclose(ent[1], np.log(2)) and np.isclose(ent[2], np.log(2)) and ent[0] < ent[3] < ent[1]
    bald = acquisition_scores("bald", probs)
    assert np.argmax(bald) == 2 and np.allclose(bald[[0, 1, 3]], 0, atol=1e-9)  # only disagreement is epistemic
    vr = acquisition_scores("variation_ratios", probs)
    assert np.allclose(vr, [0, 0, 0.5, 0])
    assert np.allclose(acquisition_scores("mean_std", probs), [0, 0, 0.4, 0])
    assert np.allclose(acquisition_scores("margin", probs), [0.02, 1, 1, 0.6])
    with pytest.raises(UnknownNameError, match="bald"):
        acquisition_scores("bal", probs)


def test_mc_dropout_passes_vary_only_with_dropout():
    x, y = _blobs(40)
    fc = fit_head(x, y, config=HeadConfig(steps=50, dropout=0.5))
    gen = torch.Generator().manual_seed(0)
    probs = mc_dropout_probs(fc, x, dropout=0.5, samples=8, generator=gen)
    assert probs.shape == (8, 40) and probs.std(0).mean() > 1e-3
    again = mc_dropout_probs(fc, x, dropout=0.5, samples=8, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(probs, again)
    flat = mc_dropout_probs(fc, x, dropout=0.0, samples=3, generator=gen)
    assert np.allclose(flat.std(0), 0)
    assert np.allclose(flat[0], 1 / (1 + np.exp(-head_scores(fc, x))))


def test_fit_head_learns_and_folds_standardisation():
    x, y = _blobs(200, seed=1)
    fc = fit_head(x * 100 + 7, y, config=HeadConfig(steps=100), seed=3)  # raw scale far from unit variance
    acc = ((head_scores(fc, x * 100 + 7) > 0) == y).mean()
    assert acc > 0.85
    again = fit_head(x * 100 + 7, y, config=HeadConfig(steps=100), seed=3)
    assert torch.equal(fc.weight, again.weight)
    with pytest.raises(DataError, match="both real"):
        fit_head(x[y == 1], y[y == 1])


def test_kcenter_greedy_takes_the_farthest_points():
    x = np.array([[0.0, 0], [0.1, 0], [5, 0], [0, 5], [5, 5], [0.2, 0.1]])
    picks = kcenter_greedy(x, [0], [1, 2, 3, 4, 5], 2)
    assert picks[0] == 4 and set(picks) <= {2, 3, 4}


@pytest.mark.parametrize("strategy", ["random", "entropy", "margin", "bald", "variation_ratios", "mean_std", "coreset"])
def test_run_saves_every_round_and_queries_distinct_images(tmp_path, strategy):
    x, y = _blobs(120, seed=2)
    xt, yt = _blobs(60, seed=3)
    cfg = ALConfig(strategy=strategy, seed=0, initial=6, query=4, rounds=3, mc_samples=6,
                   head=HeadConfig(steps=40, dropout=0.5))
    seen = []
    state = run_active_learning(x, y, xt, yt, cfg, state_path=tmp_path / "s.json",
                                on_round=lambda rec: seen.append(json.loads((tmp_path / "s.json").read_text())))
    assert [len(s["rounds"]) for s in seen] == [1, 2, 3, 4]  # the file was rewritten after every round
    assert state["complete"] and [r["n_labelled"] for r in state["rounds"]] == [6, 10, 14, 18]
    labelled = state["initial"] + [i for r in state["rounds"] for i in r["queried"]]
    assert len(set(labelled)) == 18
    assert sorted(y[state["initial"]].tolist()) == [0, 0, 0, 1, 1, 1]  # class-balanced start
    assert all(0 <= r["acc"] <= 1 and 0 <= r["ap"] <= 1 for r in state["rounds"])


def test_uncertainty_queries_the_uncertain_images(tmp_path):
    """On blobs, max entropy queries images closer to the boundary than random does."""
    x, y = _blobs(400, seed=4)
    xt, yt = _blobs(100, seed=5)
    dist = {}
    for strategy in ("random", "entropy"):
        cfg = ALConfig(strategy=strategy, initial=10, query=20, rounds=2, mc_samples=8,
                       head=HeadConfig(steps=60, dropout=0.2))
        st = run_active_learning(x, y, xt, yt, cfg, state_path=tmp_path / f"{strategy}.json")
        picked = [i for r in st["rounds"] for i in r["queried"]]
        dist[strategy] = np.abs(x[picked, 0]).mean()
    assert dist["entropy"] < dist["random"]


class _Stop(Exception):
    pass


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    x, y = _blobs(150, seed=6)
    xt, yt = _blobs(50, seed=7)
    cfg = ALConfig(strategy="bald", seed=1, initial=8, query=5, rounds=4, mc_samples=5,
                   head=HeadConfig(steps=40, dropout=0.5))
    full = run_active_learning(x, y, xt, yt, cfg, state_path=tmp_path / "full.json")

    def stop_after_round_2(rec):
        if rec["round"] == 2:
            raise _Stop

    with pytest.raises(_Stop):
        run_active_learning(x, y, xt, yt, cfg, state_path=tmp_path / "part.json", on_round=stop_after_round_2)
    assert len(json.loads((tmp_path / "part.json").read_text())["rounds"]) == 3
    resumed = run_active_learning(x, y, xt, yt, cfg, state_path=tmp_path / "part.json")
    assert resumed == json.loads(json.dumps(full))
    with pytest.raises(DataError, match="another config"):
        run_active_learning(x, y, xt, yt, ALConfig(strategy="bald", seed=2, initial=8, query=5, rounds=4,
                                                   mc_samples=5, head=HeadConfig(steps=40, dropout=0.5)),
                            state_path=tmp_path / "part.json")


def test_config_is_validated():
    with pytest.raises(UnknownNameError, match="bald"):
        ALConfig(strategy="bladd")
    with pytest.raises(FakebenchError, match="dropout"):
        ALConfig(strategy="bald", head=HeadConfig(dropout=0.0))
    x, y = _blobs(20)
    with pytest.raises(DataError, match="exceeds the pool"):
        run_active_learning(x, y, x, y, ALConfig(strategy="random", initial=10, query=5, rounds=3), state_path="/x")


def test_curves_ci_and_budget():
    states = []
    for strategy, accs in (("a", [[0.5, 0.7, 0.9], [0.6, 0.8, 0.9]]), ("b", [[0.5, 0.6, 0.7], [0.5, 0.6, 0.8]])):
        for seed, acc in enumerate(accs):
            rounds = [{"round": r, "n_labelled": 10 + 5 * r, "acc": a, "real_acc": a, "fake_acc": a, "ap": a,
                       "auc": a} for r, a in enumerate(acc)]
            states.append({"config": {"strategy": strategy, "seed": seed}, "rounds": rounds})
    curves = learning_curves(states)
    assert len(curves) == 12
    summary = summarise_curves(curves)
    row = summary[(summary.strategy == "a") & (summary.n_labelled == 10)].iloc[0]
    assert row["acc_mean"] == pytest.approx(0.55) and row["n_seeds"] == 2
    # t_{0.975, 1} * sd / sqrt(2) = 12.706 * 0.0707 / 1.414
    half = 12.7062 * np.std([0.5, 0.6], ddof=1) / np.sqrt(2)
    assert row["acc_hi"] == pytest.approx(min(1.0, 0.55 + half)) and row["acc_lo"] == pytest.approx(max(0.0, 0.55 - half))
    budget = label_budget(summary, 0.8).set_index("strategy")  # means: a 0.55/0.75/0.9, b 0.5/0.6/0.75
    assert budget.loc["a", "budget"] == 20 and pd.isna(budget.loc["b", "budget"]) and budget.loc["b", "at"] == 20
    assert budget.loc["b", "best"] == pytest.approx(0.75)


def test_report_files(tmp_path):
    x, y = _blobs(80, seed=8)
    xt, yt = _blobs(40, seed=9)
    states = [run_active_learning(x, y, xt, yt, ALConfig(strategy=s, seed=k, initial=6, query=4, rounds=2,
                                                         mc_samples=4, head=HeadConfig(steps=30, dropout=0.3)),
                                  state_path=tmp_path / f"{s}{k}.json")
              for s in ("random", "entropy") for k in (0, 1)]
    paths = write_report(states, tmp_path / "report", target=0.8)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = pd.read_csv(paths["summary"])
    assert set(summary.strategy) == {"random", "entropy"} and set(summary.n_labelled) == {6, 10, 14}
    assert "Label budget" in paths["summary_md"].read_text()


def test_cli_active_learning(tmp_path, image_tree):
    from click.testing import CliRunner

    from fakebench.cli.probe import probe_train

    out = tmp_path / "al"
    args = ["--arch", "timm:test_vit", "--random-init", "--train-dir", str(image_tree), "--test-fraction", "0.25",
            "--out", str(tmp_path / "head.pth"), "--output", str(out), "--quiet", "--steps", "30",
            "--active-learning", "random", "--active-learning", "bald", "--initial", "2", "--query", "1",
            "--rounds", "2", "--mc-samples", "4", "--seeds", "0,1"]
    res = CliRunner().invoke(probe_train, args)
    assert res.exit_code == 0, res.output
    assert "RANDOMLY INITIALISED" in res.output
    assert sorted(p.name for p in (out / "states").iterdir()) == ["bald_seed0.json", "bald_seed1.json",
                                                                   "random_seed0.json", "random_seed1.json"]
    assert (out / "curves.png").is_file() and (out / "summary.md").is_file()
    # a second invocation reuses every cached feature and every finished state
    res = CliRunner().invoke(probe_train, args)
    assert res.exit_code == 0 and "0 computed, 12 from the feature cache" in res.output
    with pytest.raises(SystemExit):
        probe_train.main(args[:-2] + ["--seeds", "x"], standalone_mode=True)


def test_t_intervals_are_clipped_and_not_zero_width_when_seeds_agree():
    """Issue #20: a t-interval over 2 seeds can reach [-84.2, 201.7] %: it is clipped to the metric's range [0, 1];
    2 seeds that agree give no interval (NaN), not a zero-width one that would claim certainty; one seed neither."""
    curves = pd.DataFrame({"strategy": ["a"] * 4 + ["b"] * 2 + ["c"],
                           "seed": [0, 1, 0, 1, 0, 1, 0], "n_labelled": [10, 10, 20, 20, 10, 10, 10],
                           "acc": [0.1, 0.9, 0.95, 1.0, 0.7, 0.7, 0.6], "ap": [0.2, 0.8, 0.9, 1.0, 0.7, 0.7, 0.6]})
    summary = summarise_curves(curves).set_index(["strategy", "n_labelled"])
    wide = summary.loc[("a", 10)]
    assert wide["acc_lo"] == 0.0 and wide["acc_hi"] == 1.0 and wide["acc_mean"] == pytest.approx(0.5)
    assert summary.loc[("a", 20), "acc_hi"] == 1.0 and summary.loc[("a", 20), "acc_lo"] < 0.975
    agree = summary.loc[("b", 10)]
    assert agree["acc_mean"] == pytest.approx(0.7) and np.isnan(agree["acc_lo"]) and np.isnan(agree["acc_hi"])
    assert np.isnan(summary.loc[("c", 10), "acc_lo"])


def test_kcenter_memory_is_linear_in_pool_size():
    """Issue #20: core-set selection allocated N x min(L, 256) x D float64 (10k pool x 1024-d: about 21 GB); now its
    extra memory is O(N x D) plus an N x 256 distance block. 1,000 x 256-d with 256 labelled: the old code peaked
    at 512 MB; the picks equal a brute-force k-center greedy."""
    import tracemalloc

    from fakebench.train.active import kcenter_greedy

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 256))
    labelled, candidates = list(range(256)), list(range(256, 1000))
    tracemalloc.start()
    picks = kcenter_greedy(x, labelled, candidates, 5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 40e6, peak
    z = (x - x.mean(0)) / x.std(0)
    chosen, expected = list(labelled), []
    for _ in range(5):
        d = np.array([min(((z[c] - z[l]) ** 2).sum() for l in chosen) for c in candidates])
        d[[candidates.index(p) for p in expected]] = -np.inf
        best = candidates[int(np.argmax(d))]
        expected.append(best)
        chosen.append(best)
    assert picks == expected
