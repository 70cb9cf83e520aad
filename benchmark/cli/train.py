"""``fakebench train`` -- train NPR, CNNSpot or UnivFD with their official recipes (or AntifakePrompt's prompt tuning)."""

from __future__ import annotations

import os

import click

from fakebench.cli.common import parse_crop_box, parse_key_values, training_data_options, user_errors

_EXAMPLES = """
\b
Recipes (recorded in the checkpoint; see docs/training.md):
  npr                       Adam 2e-4, batch 32, 50 epochs, lr x0.9 every 10 epochs, resize 256 + crop 224 + flip
  cnnspot_blur_jpg_prob0.5  Adam 1e-4, batch 64, ImageNet init, blur+JPEG p=0.5, early stopping on val accuracy
  cnnspot_blur_jpg_prob0.1  the same with p=0.1
  univfd_probe              AdamW 1e-4, batch 256, linear head on frozen CLIP, blur+JPEG p=0.5, early stopping

\b
Examples:
  fakebench train npr --train-dir data/train --val-dir data/val --out results/runs/train/npr.pth
  fakebench train cnnspot --init imagenet --train-dir data/train --val-fraction 0.1 --out cnnspot.pth
  fakebench train univfd --backbone clip_openai.pt --train-dir data/train --val-dir data/val --out fc.pth
  fakebench train antifakeprompt --real-dir coco/ --fake-dir sd2/ --out afp.pth
  torchrun --nproc_per_node 4 cli.py train npr --train-dir data/train --val-dir data/val --out npr.pth
"""

@click.command("train", epilog=_EXAMPLES)
@click.argument("detector")
@training_data_options()
@click.option("--val-dir", "val_dirs", multiple=True, type=click.Path(file_okay=False),
              help="Validation root in the 0_real/1_fake layout (repeatable).")
@click.option("--val-real-dir", "val_real_dirs", multiple=True, type=click.Path(file_okay=False),
              help="Folder of real validation images.")
@click.option("--val-fake-dir", "val_fake_dirs", multiple=True, type=click.Path(file_okay=False),
              help="Folder of fake validation images.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Hold out this stratified, seeded fraction of the training images for validation.")
@click.option("--output", "--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Checkpoint to write (the recipe's final model). <stem>.last.pth and <stem>.log.jsonl go beside it.")
@click.option("--recipe", help="Recipe preset (default: npr, cnnspot_blur_jpg_prob0.5, univfd_probe).")
@click.option("--init", help="CNNSpot (required): imagenet | scratch | PATH to a ResNet-50 state dict.")
@click.option("--backbone", type=click.Path(dir_okay=False),
              help="UnivFD: OpenAI-format CLIP state dict (default: ViT-L/14 via open_clip, needs it cached).")
@click.option("--epochs", type=click.IntRange(1), help="Maximum epochs (default: the recipe's).")
@click.option("--batch-size", type=click.IntRange(1), help="Global batch size (default: the recipe's).")
@click.option("--lr", type=click.FloatRange(0, min_open=True), help="Initial learning rate (default: the recipe's).")
@click.option("--set", "sets", multiple=True, help="Override another recipe field, KEY=VALUE (e.g. --set resize=128).")
@click.option("--crop-box", help="LEFT,TOP,RIGHT,BOTTOM crop applied to every image after decoding.")
@click.option("--seed", type=int, help="Seed of initialisation, shuffling and augmentation (default: the official "
              "recipe's, 0; AntifakePrompt 42).")
@click.option("--device", default="auto", show_default=True,
              help="torch device: auto (CUDA when present, else the CPU; torchrun: cuda:LOCAL_RANK), cpu, cuda:1.")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(0), help="DataLoader workers per process.")
@click.option("--no-resume", is_flag=True, help="Start over even if <stem>.last.pth exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@user_errors
def train(detector: str, train_dirs: tuple[str, ...], real_dirs: tuple[str, ...], fake_dirs: tuple[str, ...],
          val_dirs: tuple[str, ...], val_real_dirs: tuple[str, ...], val_fake_dirs: tuple[str, ...],
          val_fraction: float | None, out: str, recipe: str | None, init: str | None, backbone: str | None,
          epochs: int | None, batch_size: int | None, lr: float | None, sets: tuple[str, ...], crop_box: str | None,
          seed: int | None, device: str | None, workers: int, no_resume: bool, quiet: bool) -> None:
    """Train DETECTOR (npr, cnnspot, univfd, antifakeprompt) and write a checkpoint its loader reads; linear probes
    over any backbone (with active learning): `fakebench train probe -h`.

    Progress bars show the running loss and images/s; every epoch is logged (loss, validation accuracy/AP, time),
    checkpointed atomically and resumable: rerun the same command after an interruption.
    """
    args = dict(locals())  # first statement: exactly the command's parameters
    if device == "auto":  # None: the trainers' own default (CUDA when present; torchrun: cuda:LOCAL_RANK)
        device = args["device"] = None
    from fakebench.train.trainers import get_trainer, unsupported_options

    spec = get_trainer(detector)
    unsupported = unsupported_options(spec, args)
    if unsupported:
        names = ", ".join("--" + k.replace("_dirs", "-dir").replace("_", "-").replace("sets", "set")
                          for k in unsupported)
        takes = ", ".join(sorted("--" + k.replace("_dirs", "-dir").replace("_", "-").replace("sets", "set")
                                 for k in spec.accepted if k != "detector"))
        raise click.UsageError(f"{detector} training ({spec.name} trainer) does not take {names}; it takes {takes}.")
    if seed is None:
        seed = spec.default_seed
    if spec.name == "prompt":
        _train_antifakeprompt({**args, "seed": seed})
        return
    import yaml

    from fakebench.core.files import sha256_file
    from fakebench.train.loop import train_detector

    overrides = {k: yaml.safe_load(v) for k, v in parse_key_values(sets).items()}
    result = train_detector(
        detector, out=out, recipe=recipe, train_dirs=train_dirs, real_dirs=real_dirs, fake_dirs=fake_dirs,
        val_dirs=val_dirs, val_real_dirs=val_real_dirs, val_fake_dirs=val_fake_dirs, val_fraction=val_fraction,
        crop_box=parse_crop_box(crop_box), epochs=epochs, batch_size=batch_size, lr=lr, overrides=overrides,
        init=init, backbone=backbone, seed=seed, device=device, workers=workers,
        resume=not no_resume, progress=not quiet, echo=click.echo)
    if int(os.environ.get("RANK", "0")) != 0 or not result.out.is_file():
        return
    best = result.best
    click.echo(f"checkpoint: {result.out} (sha256 {sha256_file(result.out)})")
    click.echo(f"resume state: {result.last}; log: {result.log}")
    if result.history:
        click.echo(f"{result.epochs_done} epochs ({result.stop_reason}); {result.seconds_per_epoch:.1f} s/epoch on "
                   f"average" + (f"; best val acc {100 * best['acc']:.2f} at epoch {best['epoch']}" if best else ""))


def _train_antifakeprompt(args: dict) -> None:
    """Dispatch to :func:`fakebench.train.antifakeprompt.train_prompt` (options already checked by the trainer spec)."""
    for key in ("real_dirs", "fake_dirs"):
        if len(args[key]) != 1:
            raise click.UsageError("antifakeprompt training needs exactly one --real-dir and one --fake-dir.")
    for key in ("val_real_dirs", "val_fake_dirs"):
        if len(args[key]) > 1:
            raise click.UsageError("antifakeprompt training takes at most one --val-real-dir and one --val-fake-dir.")
    from fakebench.train.antifakeprompt import train_prompt

    kwargs = {"real_dir": args["real_dirs"][0], "fake_dir": args["fake_dirs"][0], "out": args["out"],
              "val_real_dir": (args["val_real_dirs"] or (None,))[0], "val_fake_dir": (args["val_fake_dirs"] or (None,))[0],
              "resume": not args["no_resume"], "seed": args["seed"], "workers": args["workers"],
              "progress": not args["quiet"]}
    for key in ("epochs", "batch_size", "lr", "device"):
        if args[key] is not None:
            kwargs[key] = args[key]
    path = train_prompt(**kwargs)
    click.echo(f"checkpoint: {path}")
