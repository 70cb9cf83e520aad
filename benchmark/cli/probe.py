"""``fakebench train probe`` -- train a linear probe head on a frozen backbone, optionally by active learning.

The command object is :data:`probe_train`; ``fakebench train`` dispatches ``train probe ...`` to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from fakebench.cli.common import DEVICE_HELP, parse_crop_box, resolve_device, training_data_options, user_errors

_EXAMPLES = """
\b
Examples:
  fakebench train probe --arch Imagenet:resnet50 --train-dir data/train --test-dir data/test --out r50_head.pth
  fakebench train probe --arch timm:resnet18 --random-init --real-dir photos/ --fake-dir renders/ --out head.pth
  fakebench train probe --arch CLIP:ViT-L/14 --backbone clip_openai.pt --train-dir data/train --out fc.pth
  fakebench train probe --arch tv:resnet18 --random-init --train-dir pool/ --test-dir test/ --out head.pth \\
      --active-learning random --active-learning bald --active-learning entropy \\
      --initial 20 --query 10 --rounds 10 --seeds 0,1,2 --output runs/al
Evaluate the head like any detector:
  fakebench evaluate --detector probe --weights head.pth -O arch=timm:resnet18 -O pretrained=false --data-dir test/
"""


def _seeds(value: str) -> list[int]:
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise click.BadParameter(f"expected comma-separated integers such as 0,1,2, got {value!r}")
    return seeds


@click.command("probe", epilog=_EXAMPLES)
@click.option("--arch", required=True, help="Backbone: a CS545 name (Imagenet:resnet50, CLIP:ViT-L/14, ...), timm:NAME, "
                                            "tv:NAME[@WEIGHTS] or open_clip:NAME/PRETRAINED.")
@training_data_options("training (or active-learning pool)")
@click.option("--test-dir", "test_dirs", multiple=True, type=click.Path(file_okay=False),
              help="Held-out test root in the 0_real/1_fake layout (repeatable).")
@click.option("--test-real-dir", "test_real_dirs", multiple=True, type=click.Path(file_okay=False))
@click.option("--test-fake-dir", "test_fake_dirs", multiple=True, type=click.Path(file_okay=False))
@click.option("--test-fraction", default=0.3, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Without --test-dir: hold out this stratified fraction (seed 0) of the training images as the test split.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Head checkpoint to write (.pth).")
@click.option("--backbone", type=click.Path(dir_okay=False), help="Local backbone state dict (default: the library's "
                                                                   "pretrained weights).")
@click.option("--random-init", is_flag=True, help="Randomly initialise the backbone (seeded; recorded as random-init).")
@click.option("--backbone-seed", default=0, show_default=True, type=int, help="Seed of --random-init.")
@click.option("--preset", type=click.Choice(["library", "crop224"]), default="library", show_default=True,
              help="library: the backbone library's eval transform; crop224: UnivFD/CS545 center crop 224.")
@click.option("--crop-box", help="LEFT,TOP,RIGHT,BOTTOM crop applied to every image after decoding.")
@click.option("--steps", default=200, show_default=True, type=click.IntRange(1), help="AdamW steps (full batch).")
@click.option("--lr", default=0.01, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--weight-decay", default=1e-3, show_default=True, type=click.FloatRange(0))
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True),
              help="Dropout on the features before the head while training, and for MC dropout (default: 0.5 with "
                   "--active-learning, else 0).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the head fit.")
@click.option("--active-learning", "strategies", multiple=True,
              type=click.Choice(["random", "entropy", "margin", "bald", "variation_ratios", "mean_std", "coreset"]),
              help="Run active learning with this acquisition strategy (repeatable).")
@click.option("--initial", default=20, show_default=True, type=click.IntRange(2), help="Initial labelled images.")
@click.option("--query", default=10, show_default=True, type=click.IntRange(1), help="Images queried per round.")
@click.option("--rounds", default=10, show_default=True, type=click.IntRange(0), help="Query rounds.")
@click.option("--mc-samples", default=20, show_default=True, type=click.IntRange(1), help="MC dropout passes T.")
@click.option("--seeds", default="0,1", show_default=True, help="Active-learning seeds, comma-separated.")
@click.option("--target-acc", default=0.9, show_default=True, type=click.FloatRange(0, 1),
              help="Report the label budget each strategy needs to reach this mean test accuracy.")
@click.option("--output", type=click.Path(file_okay=False),
              help="Folder for active-learning states, curves and the test evaluation run (default: beside --out).")
@click.option("--evaluate/--no-evaluate", "run_eval", default=True, show_default=True,
              help="With --test-dir: also score the saved head through the ordinary evaluation runner.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1), help="Backbone batch size.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@user_errors
def probe_train(arch: str, train_dirs: tuple[str, ...], real_dirs: tuple[str, ...], fake_dirs: tuple[str, ...],
                test_dirs: tuple[str, ...], test_real_dirs: tuple[str, ...], test_fake_dirs: tuple[str, ...],
                test_fraction: float, out: str, backbone: str | None, random_init: bool, backbone_seed: int,
                preset: str, crop_box: str | None, steps: int, lr: float, weight_decay: float, dropout: float | None,
                seed: int, strategies: tuple[str, ...], initial: int, query: int, rounds: int, mc_samples: int,
                seeds: str, target_acc: float, output: str | None, run_eval: bool, batch_size: int, device: str, quiet: bool) -> None:
    """Train a linear head (nn.Linear(D, 1), logit > 0 = fake) on frozen backbone features, cached per backbone and
    image; with --active-learning, also run pool-based active learning and write learning curves."""
    if backbone and random_init:
        raise click.UsageError("Give either --backbone PATH or --random-init, not both.")
    seed_list = _seeds(seeds)
    device = resolve_device(device)
    if dropout is None:
        dropout = 0.5 if strategies else 0.0
    box = parse_crop_box(crop_box)

    from fakebench.detectors.probe.model import Probe
    from fakebench.train.active import ALConfig, run_active_learning, write_report
    from fakebench.train.data import collect_records, describe_data, split_validation
    from fakebench.train.features import FeatureCache, extract_features
    from fakebench.train.probe import HeadConfig, binary_scores, fit_head, head_scores, save_head

    records, sources = collect_records(train_dirs=train_dirs, real_dirs=real_dirs, fake_dirs=fake_dirs, crop_box=box)
    if test_dirs or test_real_dirs or test_fake_dirs:
        test_records, test_sources = collect_records(train_dirs=test_dirs, real_dirs=test_real_dirs,
                                                     fake_dirs=test_fake_dirs, crop_box=box)
        test_role = "test"
    else:
        records, test_records = split_validation(records, test_fraction, 0)
        test_sources, test_role = [], f"test ({test_fraction:.0%} of the training images, seed 0)"
    probe = Probe.build(arch, backbone=backbone, pretrained=False if random_init else None, seed=backbone_seed,
                        dropout=dropout, preset=preset, device=device)
    click.echo(f"backbone: {json.dumps({k: v for k, v in probe.backbone.items() if k != 'library_version'})}")
    if random_init:
        click.echo("note: the backbone is RANDOMLY INITIALISED (--random-init); its features are not pretrained.")
    with FeatureCache() as cache:
        train = extract_features(probe, records, cache=cache, batch_size=batch_size, progress=not quiet)
        test = extract_features(probe, test_records, cache=cache, batch_size=batch_size, progress=not quiet)
    for fs, role in ((train, "train"), (test, "test")):
        click.echo(f"{role}: {len(fs.labels)} images ({int((fs.labels == 0).sum())} real, {int(fs.labels.sum())} "
                   f"fake); {fs.stats.computed} computed, {fs.stats.cached} from the feature cache, "
                   f"{len(fs.stats.skipped)} unreadable")
    config = HeadConfig(steps=steps, lr=lr, weight_decay=weight_decay, dropout=dropout)
    fc = fit_head(train.features, train.labels, config=config, seed=seed)
    train_metrics = binary_scores(train.labels, head_scores(fc, train.features))
    test_metrics = binary_scores(test.labels, head_scores(fc, test.features))
    training: dict[str, Any] = {
        "train": describe_data(train.records, sources, role="train"),
        "test": describe_data(test.records, test_sources, role=test_role),
        "head": config.to_dict(), "seed": seed, "feature_key": train.backbone_key,
        "train_metrics": train_metrics, "test_metrics": test_metrics,
    }
    save_head(out, fc, probe=probe, training=training)
    click.echo(f"test (feature path): acc {100 * test_metrics['acc']:.1f}%, real acc {100 * test_metrics['real_acc']:.1f}%, "
               f"fake acc {100 * test_metrics['fake_acc']:.1f}%, AP {100 * test_metrics['ap']:.1f}%")
    click.echo(f"head: {out}")
    out_dir = Path(output) if output else Path(out).with_suffix("")
    if run_eval and (test_dirs or test_real_dirs or test_fake_dirs):
        _evaluate_head(out, probe, backbone, random_init, backbone_seed, test_dirs, test_real_dirs, test_fake_dirs,
                       box, out_dir / "eval", batch_size, device, quiet)
    if strategies:
        states = []
        for strategy in strategies:
            for s in seed_list:
                cfg = ALConfig(strategy=strategy, seed=s, initial=initial, query=query, rounds=rounds,
                               mc_samples=mc_samples, head=config)
                state = run_active_learning(train.features, train.labels, test.features, test.labels, cfg,
                                            state_path=out_dir / "states" / f"{strategy}_seed{s}.json")
                last = state["rounds"][-1]
                click.echo(f"active learning {strategy} seed {s}: {last['n_labelled']} labels -> acc "
                           f"{100 * last['acc']:.1f}%, AP {100 * last['ap']:.1f}%")
                states.append(state)
        title = (f"Active learning, {probe.backbone['arch']} ({probe.backbone['init']}), pool {len(train.labels)}, "
                 f"test {len(test.labels)}")
        paths = write_report(states, out_dir, target=target_acc, title=title)
        click.echo(paths["summary_md"].read_text())
        click.echo(f"curves: {paths['png']}")


def _evaluate_head(head: str, probe: Any, backbone: str | None, random_init: bool, backbone_seed: int,
                   test_dirs: tuple[str, ...], test_real_dirs: tuple[str, ...], test_fake_dirs: tuple[str, ...],
                   box: Any, output: Path, batch_size: int, device: str, quiet: bool) -> None:
    """Reload the saved head as a ``probe`` detector and score the test folders with the ordinary harness."""
    from fakebench.detectors.probe.model import Probe
    from fakebench.eval.harness import metrics_table, run_evaluation, sets_from_data_dir, sets_from_real_fake_dirs
    from fakebench.eval.tables import console_table

    det = Probe.load(head, backbone=backbone, pretrained=False if random_init else None, seed=backbone_seed,
                     device=device)
    sets = [s for d in test_dirs for s in sets_from_data_dir(d, crop_box=box)]
    if test_real_dirs or test_fake_dirs:
        if len(test_real_dirs) > 1 or len(test_fake_dirs) > 1:
            click.echo("note: the runner evaluation takes one --test-real-dir/--test-fake-dir pair; skipped.", err=True)
        else:
            sets += sets_from_real_fake_dirs(test_real_dirs[0] if test_real_dirs else None,
                                             test_fake_dirs[0] if test_fake_dirs else None, crop_box=box)
    if not sets:
        return
    run_dir, results = run_evaluation(det, sets, output=output, data_label="test", batch_size=batch_size,
                                      num_workers=0, progress=not quiet)
    click.echo(console_table(metrics_table(results["metrics"])))
    click.echo(f"runner results: {run_dir / 'results.json'}")
