"""Coverage and type-I-error simulation of fakebench's reported intervals and paired tests (issue #16).

Runs :mod:`fakebench.analysis.simulate` on the full grid with many replicates and prints one table per question:

* per-set 95% intervals (acc, real acc, fake acc, AUC, AP) at 20+20 and 50+50 images with AUC 0.8, 0.95, 0.99:
  coverage, mean width, share of zero-width intervals, and the AP bias (mean sample AP - population AP);
* the interval of the mean over K = 5, 10, 20 test sets (and K = 3, 4: none given);
* type-I error at alpha 0.05 of DeLong's test, the paired AP bootstrap and McNemar's test with 50+50 images and
  at sizes below their minimum (10 per class for DeLong/AP; e.g. 4 fakes vs 148 reals).

Usage::

    python tools/coverage_sim.py                 # about 10 minutes on 2 cores
    python tools/coverage_sim.py --reps 200      # quicker, coarser
    python tools/coverage_sim.py --json out.json

The fast seeded subset runs in the test suite (``tests/test_coverage.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=1000, help="simulated test sets per cell (AP: half)")
    parser.add_argument("--n-boot", type=int, default=1000, help="AP bootstrap resamples")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args()

    from fakebench.analysis.simulate import coverage_set_mean, coverage_single_set, paired_type1

    out: dict = {"reps": args.reps, "n_boot": args.n_boot, "seed": args.seed, "single_set": [], "set_mean": [],
                 "type1": []}
    start = time.time()
    print(f"Per-set 95% intervals: coverage (mean width) [zero-width share]; {args.reps} sets per cell "
          f"({args.reps // 2} for AP, {args.n_boot} resamples)")
    print(f"{'n':>7} {'AUC':>5} " + " ".join(f"{k:>22}" for k in ("acc", "real_acc", "fake_acc", "auc", "ap"))
          + "   AP bias")
    for n in (20, 50):
        for auc in (0.8, 0.95, 0.99):
            res = coverage_single_set(n, n, auc, reps=args.reps, seed=args.seed, with_ap=False)
            res_ap = coverage_single_set(n, n, auc, reps=args.reps // 2, n_boot=args.n_boot, seed=args.seed + 1)
            res["ap"], res["ap_bias"] = res_ap["ap"], res_ap["ap_bias"]
            cells = " ".join(f"{res[k]['coverage']:>8.3f} ({res[k]['mean_width']:.3f}) [{res[k]['zero_width']:.2f}]"
                             for k in ("acc", "real_acc", "fake_acc", "auc", "ap"))
            print(f"{n:>3}+{n:<3} {auc:>5} {cells}   {100 * res['ap_bias']['bias']:+.2f} pt")
            out["single_set"].append({"n_real": n, "n_fake": n, "auc": auc, **res})
    print("\nMean over K test sets (per-set accuracy ~ Beta(6, 2) seen through 100 images; and a skewed, AUC-like "
          "Beta(20, 1)): coverage of the population mean (mean width)")
    for k in (3, 4, 5, 10, 20):
        rows = [coverage_set_mean(k, reps=4 * args.reps, seed=args.seed),
                coverage_set_mean(k, reps=4 * args.reps, a=20.0, b=1.0, seed=args.seed)]
        text = "  ".join("no interval (too few sets)" if r["no_interval"] == 1.0 else
                         f"{r['coverage']:.3f} ({r['mean_width']:.3f})" for r in rows)
        print(f"K={k:<3} {text}")
        out["set_mean"].append({"k": k, "beta_6_2": rows[0], "beta_20_1": rows[1]})
    print("\nType-I error at alpha 0.05 (both detectors have the same score distribution, latent correlation 0.5): "
          "rejection rate among tested [share suppressed for size]")
    for n_real, n_fake, auc in ((50, 50, 0.85), (50, 50, 0.95), (20, 20, 0.85), (10, 10, 0.85), (148, 4, 0.85)):
        res = paired_type1(n_real, n_fake, auc=auc, reps=args.reps // 2, n_boot=min(args.n_boot, 300),
                           seed=args.seed)
        text = "  ".join(f"{t} {r['reject']:.3f} [{r['suppressed']:.2f}]" for t, r in res.items())
        print(f"{n_real:>3} real + {n_fake:<3} fake, AUC {auc}: {text}")
        out["type1"].append({"n_real": n_real, "n_fake": n_fake, "auc": auc, **res})
    print(f"\n{time.time() - start:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
