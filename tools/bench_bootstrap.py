"""Speed of the vectorised bootstrap: N predictions x B resamples of acc, real acc, fake acc, AP and AUC.

Goal: 50,000 predictions x 1,000 resamples in under 10 s on a 2-core machine (issue 9). Prints the wall time of
:func:`fakebench.analysis.bootstrap.bootstrap_replicates` (all five metrics on the same resamples) and of one paired
bootstrap of two detectors (:func:`fakebench.analysis.paired.paired_bootstrap`), on synthetic scores with ties.

Usage::

    python tools/bench_bootstrap.py --n 50000 --n-boot 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="predictions (half real, half fake)")
    parser.add_argument("--n-boot", type=int, default=1_000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from fakebench.analysis.bootstrap import bootstrap_replicates, percentile_interval
    from fakebench.analysis.paired import paired_bootstrap

    rng = np.random.default_rng(args.seed)
    y = (np.arange(args.n) % 2).astype(np.int64)
    logit = np.round(rng.normal(1.5 * y, 1.0), 3)  # rounded: realistic ties
    prob = 1.0 / (1.0 + np.exp(-logit))
    start = time.perf_counter()
    reps = bootstrap_replicates(y, prob, ranking=logit, n_boot=args.n_boot, seed=args.seed)
    single = time.perf_counter() - start
    cis = {k: [round(v, 4) for v in percentile_interval(r)] for k, r in reps.items()}
    print(f"bootstrap_replicates: N={args.n} B={args.n_boot} metrics={list(reps)}: {single:.2f} s")
    print(f"  95% CIs: {cis}")
    other = logit + rng.normal(0, 0.5, args.n)
    start = time.perf_counter()
    paired_bootstrap(y, logit, other, metric="ap", n_boot=args.n_boot, seed=args.seed)
    print(f"paired_bootstrap (AP, two detectors): N={args.n} B={args.n_boot}: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
