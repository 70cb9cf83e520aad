"""The training loop: one recipe, one output checkpoint, resumable, repeatable, single-process or DDP.

Files written next to ``out`` (all atomically, after every epoch, by rank 0 only):

* ``out`` -- the model the recipe publishes: the last epoch (NPR) or the best validation accuracy (CNNSpot, UnivFD).
  Layout ``{'model': state_dict, 'optimizer': ..., 'total_steps': int, 'epoch': int, 'fakebench': meta}``: the
  CNNDetection ``save_networks`` format, NPR's ``NPR.pth`` format without the ``module.`` prefix, and for UnivFD the
  ``fc_weights.pth`` head (``{'weight': [1, 768], 'bias': [1]}``) under ``'model'``. Every detector's ``load()`` reads
  it strictly; ``meta`` holds the recipe, the data (folders, counts, digest), seed, init, history and environment.
* ``<stem>.last<suffix>`` -- the same layout for the latest finished epoch; a new run with the same ``out`` resumes
  from it (same recipe, seed, overrides and data digest required; only ``epochs`` may grow).
* ``<stem>.log.jsonl`` -- one JSON line per epoch: train loss, lr, validation metrics, seconds, images/s.

Distributed training follows ``torchrun``: when ``WORLD_SIZE > 1`` the process group is initialised from the
environment (NCCL on CUDA, Gloo on CPU), every rank gets a ``DistributedSampler`` shard, the trainable module is
wrapped in ``DistributedDataParallel`` and the recipe's batch size is split across ranks (global batch unchanged).
Every rank validates on the full validation set, so early-stopping decisions agree without communication.

Repeatability: the model initialisation, the shuffling (``seed + epoch``) and every augmentation draw (per image, see
:func:`fakebench.train.augment.sample_rng`) are seeded, so two CPU runs with the same seed, data and thread count
produce identical checkpoints, and an interrupted-then-resumed run matches an uninterrupted one.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from fakebench.core.errors import CheckpointError, DataError, FakebenchError
from fakebench.core.files import atomic_write_bytes, atomic_write_text

from fakebench.train.augment import RecipeTransform, jpeg_methods
from fakebench.train.data import TrainImageDataset, collect_records, describe_data, split_validation
from fakebench.train.models import BuiltModel, build_for_recipe
from fakebench.train.recipes import DEFAULT_RECIPE, Recipe, get_recipe

__all__ = ["CHECKPOINT_SCHEMA", "TrainResult", "companion_paths", "train_detector"]

CHECKPOINT_SCHEMA = "fakebench.train/1"


@dataclass
class TrainResult:
    """What a call to :func:`train_detector` did.

    Attributes:
        out: the published checkpoint (``--out``).
        last: the resume checkpoint (latest epoch).
        log: the per-epoch JSON-lines log.
        epochs_done: epochs completed in total (across resumes).
        stop_reason: why training ended (``max epochs``, ``early stopping``, ``already complete``).
        history: one dict per epoch (see the module docstring).
        best: ``{"epoch", "acc", "ap"}`` of the best validation accuracy, or ``None`` without validation.
        notes: warnings printed during the run (e.g. the JPEG encoder substitution).
        model: the network with the weights of the last finished epoch, in eval mode (for UnivFD the full
            ``UnivFDNet``, of which only ``fc`` was trained).
    """

    out: Path
    last: Path
    log: Path
    epochs_done: int
    stop_reason: str
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    model: nn.Module | None = None

    @property
    def seconds_per_epoch(self) -> float:
        """Mean training seconds per epoch (validation excluded) over the epochs in :attr:`history`."""
        secs = [h["seconds"] for h in self.history]
        return sum(secs) / len(secs) if secs else math.nan


def companion_paths(out: str | os.PathLike) -> tuple[Path, Path, Path]:
    """``(out, last, log)`` paths for an output checkpoint path."""
    out = Path(out)
    suffix = out.suffix or ".pth"
    return out, out.with_name(f"{out.stem}.last{suffix}"), out.with_name(f"{out.stem}.log.jsonl")


# -- distributed context ------------------------------------------------------------------------------------------
@dataclass
class _Dist:
    world: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    initialised_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str | None) -> "_Dist":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
            return cls(device=dev)
        import torch.distributed as dist

        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
        if use_cuda:
            torch.cuda.set_device(local_rank)
        initialised = False
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
            initialised = True
        return cls(world=dist.get_world_size(), rank=dist.get_rank(), local_rank=local_rank,
                   device=torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu"),
                   initialised_here=initialised)

    def mean(self, value: float, weight: float) -> float:
        """Weighted mean of ``value`` over ranks (identity in a single process)."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        t = torch.tensor([value * weight, weight], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t[0] / t[1])

    def close(self) -> None:
        if self.initialised_here:
            import torch.distributed as dist

            dist.destroy_process_group()


# -- helpers --------------------------------------------------------------------------------------------------------
def _resolve_recipe(detector: str, recipe: str | Recipe | None, overrides: dict[str, Any]) -> Recipe:
    if isinstance(recipe, Recipe):
        base = recipe
    else:
        if recipe is None:
            if detector not in DEFAULT_RECIPE:
                raise FakebenchError(f"No training recipe for detector {detector!r}; trainable detectors: "
                                     f"{', '.join(sorted(DEFAULT_RECIPE))} (and antifakeprompt via its own trainer).")
            recipe = DEFAULT_RECIPE[detector]
        base = get_recipe(recipe)
    if base.detector != detector:
        raise FakebenchError(f"Recipe {base.name!r} trains {base.detector!r}, not {detector!r}.")
    try:
        return base.with_overrides(**overrides)
    except (TypeError, ValueError) as exc:
        raise FakebenchError(f"Bad recipe override: {exc}") from exc


def _save_bytes(obj: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _evaluate(built: BuiltModel, loader: torch.utils.data.DataLoader, device: torch.device) -> dict[str, float]:
    from fakebench.eval.metrics import binary_metrics

    built.model.eval()
    probs, labels = [], []
    with torch.no_grad():
        for images, target in loader:
            logits = built.model(images.to(device, non_blocking=True)).reshape(-1).float()
            probs.append(torch.sigmoid(logits).cpu())
            labels.append(target)
    metrics = binary_metrics(torch.cat(labels).numpy(), torch.cat(probs).double().numpy())
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}


def _check_resume(meta: dict[str, Any], expected: dict[str, Any], path: Path) -> None:
    problems = []
    for key in ("detector", "seed"):
        if meta.get(key) != expected[key]:
            problems.append(f"{key} {meta.get(key)!r} (now {expected[key]!r})")
    if meta.get("recipe", {}).get("name") != expected["recipe"]["name"]:
        problems.append(f"recipe {meta.get('recipe', {}).get('name')!r} (now {expected['recipe']['name']!r})")
    old = {k: v for k, v in (meta.get("overrides") or {}).items() if k != "epochs"}
    new = {k: v for k, v in expected["overrides"].items() if k != "epochs"}
    if old != new:
        problems.append(f"overrides {old} (now {new})")
    for role in ("train", "val"):
        before, now = (meta.get("data") or {}).get(role), expected["data"].get(role)
        if (before or {}).get("digest") != (now or {}).get("digest"):
            problems.append(f"{role} data digest {(before or {}).get('digest', 'none')[:12]} (now "
                            f"{(now or {}).get('digest', 'none')[:12]})")
    init_old = {k: v for k, v in (meta.get("init") or {}).items() if k not in ("path", "note")}
    init_new = {k: v for k, v in expected["init"].items() if k not in ("path", "note")}
    if isinstance(init_old.get("backbone"), dict):
        init_old["backbone"] = {k: v for k, v in init_old["backbone"].items() if k != "path"}
        init_new["backbone"] = {k: v for k, v in init_new.get("backbone", {}).items() if k != "path"}
    if init_old != init_new:
        problems.append(f"initialisation {init_old} (now {init_new})")
    if problems:
        raise FakebenchError(f"Cannot resume from {path}: it was started with a different " + "; ".join(problems)
                             + ". Pass --no-resume to start over, or choose another --out.")


def _plateau_update(state: dict[str, Any], acc: float, recipe: Recipe) -> tuple[bool, bool]:
    """CNNDetection's ``EarlyStopping`` (``earlystop.py``) on validation accuracy.

    Returns:
        ``(is_best, early_stop)``: whether this epoch set a new best (the official code then saves
        ``model_epoch_best.pth``), and whether patience ran out.
    """
    delta = recipe.min_delta[0] if state["drops"] == 0 else recipe.min_delta[1]
    if state["best"] is None:
        state["best"], state["counter"] = acc, 0
        return True, False
    if acc < state["best"] + delta:
        state["counter"] += 1
        return False, state["counter"] >= recipe.patience
    state["best"], state["counter"] = acc, 0
    return True, False


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


# -- main entry point -------------------------------------------------------------------------------------------------
def train_detector(detector: str, *, out: str | os.PathLike, recipe: str | Recipe | None = None,
                   train_dirs: Sequence[str | os.PathLike] = (), real_dirs: Sequence[str | os.PathLike] = (),
                   fake_dirs: Sequence[str | os.PathLike] = (), val_dirs: Sequence[str | os.PathLike] = (),
                   val_real_dirs: Sequence[str | os.PathLike] = (), val_fake_dirs: Sequence[str | os.PathLike] = (),
                   val_fraction: float | None = None, crop_box: tuple[int, int, int, int] | None = None,
                   epochs: int | None = None, batch_size: int | None = None, lr: float | None = None,
                   overrides: dict[str, Any] | None = None, init: str | None = None,
                   backbone: str | os.PathLike | nn.Module | None = None, seed: int = 0, device: str | None = None,
                   workers: int = 0, resume: bool = True, progress: bool = True,
                   on_step: Callable[[int, float], None] | None = None,
                   echo: Callable[[str], None] = print) -> TrainResult:
    """Train ``detector`` with a named recipe and write its checkpoint (see the module docstring for the files).

    Args:
        detector: ``npr``, ``cnnspot`` or ``univfd``.
        out: the published checkpoint path (parent folders are created).
        recipe: recipe name or :class:`Recipe` (default: :data:`~benchmark.training.recipes.DEFAULT_RECIPE`).
        train_dirs: ``0_real``/``1_fake`` training folders; ``real_dirs``/``fake_dirs``: single-label folders.
        val_dirs, val_real_dirs, val_fake_dirs: validation images, in the same two forms.
        val_fraction: instead of validation folders, hold out this stratified, seeded fraction of the training
            images (recorded with its digest).
        crop_box: ``(left, top, right, bottom)`` crop applied to every training and validation image after decoding.
        epochs, batch_size, lr: overrides of the recipe's maximum epochs, (global) batch size and initial lr;
            recorded in the checkpoint under ``overrides``.
        overrides: any other recipe fields to override (e.g. ``{"resize": 64, "crop": 56}`` for smoke tests).
        init: CNNSpot: ``imagenet`` | ``scratch`` | ResNet-50 state dict path (required). NPR: ``scratch`` only.
        backbone: UnivFD: OpenAI-format CLIP state dict path or visual module (``None``: ViT-L/14 via open_clip).
        seed: seeds initialisation, shuffling and augmentation.
        device: torch device (default ``cuda`` when available, else ``cpu``; under torchrun ``cuda:LOCAL_RANK``).
        workers: DataLoader worker processes per rank.
        resume: continue from ``<stem>.last<suffix>`` when it exists (otherwise it is overwritten).
        progress: show tqdm progress bars (rank 0 only).
        on_step: called after every optimisation step with ``(global step, loss)``.
        echo: where one-line messages go.

    Returns:
        A :class:`TrainResult`.

    Raises:
        DataError: missing/empty/one-label folders, an unreadable image, or a recipe that needs validation data
            without any.
        FakebenchError: unknown recipe, bad override, CNNSpot without ``init``, or a resume file from another run.
        WeightsNotFoundError: ImageNet or CLIP weights not available offline.
        CheckpointError: unreadable resume/init/backbone file.
    """
    given = {"epochs": epochs, "batch_size": batch_size, "lr": lr, **(overrides or {})}
    given = {k: (list(v) if isinstance(v, tuple) else v) for k, v in given.items() if v is not None}
    rec = _resolve_recipe(detector, recipe, given)
    out, last_path, log_path = companion_paths(out)
    ctx = _Dist.from_env(device)
    notes: list[str] = []
    try:
        # -- data ---------------------------------------------------------------------------------------------------
        train_records, train_sources = collect_records(train_dirs=train_dirs, real_dirs=real_dirs,
                                                       fake_dirs=fake_dirs, crop_box=crop_box)
        val_records, val_sources, val_role = [], [], ""
        if val_dirs or val_real_dirs or val_fake_dirs:
            if val_fraction:
                raise DataError("Give validation folders or --val-fraction, not both.")
            val_records, val_sources = collect_records(train_dirs=val_dirs, real_dirs=val_real_dirs,
                                                       fake_dirs=val_fake_dirs, crop_box=crop_box)
            val_role = "val"
        elif val_fraction:
            train_records, val_records = split_validation(train_records, val_fraction, seed)
            val_sources, val_role = train_sources, f"val ({val_fraction:g} of the training folders, seed {seed})"
        if rec.uses_validation and not val_records:
            raise DataError(f"Recipe {rec.name!r} stops early on validation accuracy and publishes the best-validation "
                            "model, so it needs validation images: pass --val-dir (or --val-real-dir/--val-fake-dir), "
                            "or --val-fraction to hold out part of the training images.")
        data = {"train": describe_data(train_records, train_sources,
                                       role="train" if not val_fraction else f"train (minus {val_role})")}
        if val_records:
            data["val"] = describe_data(val_records, val_sources, role=val_role)
        methods, jpeg_note = jpeg_methods(rec.jpg_method)
        if jpeg_note and (rec.jpg_prob > 0):
            notes.append(jpeg_note)
            if ctx.main:
                echo(f"note: {jpeg_note}")

        # -- model, optimiser -----------------------------------------------------------------------------------------
        built = build_for_recipe(rec, seed=seed, init=init, backbone=backbone)
        built.model.to(ctx.device)
        params = [p for p in built.trainable.parameters() if p.requires_grad]
        opt_cls = torch.optim.AdamW if rec.optimizer == "adamw" else torch.optim.Adam
        optimizer = opt_cls(params, lr=rec.lr, betas=tuple(rec.betas), weight_decay=rec.weight_decay)

        from fakebench.core.provenance import environment, git_commit, now_iso

        meta: dict[str, Any] = {
            "schema": CHECKPOINT_SCHEMA, "detector": detector, "recipe": rec.to_dict(), "overrides": given,
            "seed": seed, "init": built.init, "data": data, "jpeg_methods": list(methods), "notes": notes,
            "epoch": 0, "total_steps": 0, "finished": False, "stop_reason": "", "history": [],
            "plateau": {"best": None, "counter": 0, "drops": 0}, "best": None,
            "world_size": ctx.world, "device": ctx.device.type, "torch_threads": torch.get_num_threads(),
            "started": now_iso(), "updated": now_iso(), "git_commit": git_commit(), "environment": environment(),
        }

        # -- resume ---------------------------------------------------------------------------------------------------
        if resume and last_path.is_file():
            from fakebench.detectors.checkpoints import load_strict, read_checkpoint

            state = read_checkpoint(last_path)
            old = state.get("fakebench") if isinstance(state, dict) else None
            if not isinstance(old, dict) or old.get("schema") != CHECKPOINT_SCHEMA:
                raise CheckpointError(f"{last_path} is not a fakebench training checkpoint; pass --no-resume to "
                                      "overwrite it, or choose another --out.")
            _check_resume(old, meta, last_path)
            load_strict(built.trainable, state["model"], last_path, what=f"{detector} ({rec.name})")
            optimizer.load_state_dict(state["optimizer"])
            for key in ("epoch", "total_steps", "finished", "stop_reason", "history", "plateau", "best", "started"):
                meta[key] = old[key]
            if given.get("epochs") and old["finished"] and old["stop_reason"] == "max epochs" \
                    and given["epochs"] > old["epoch"]:
                meta["finished"], meta["stop_reason"] = False, ""
            if ctx.main:
                echo(f"resuming {detector} ({rec.name}) from {last_path} after epoch {meta['epoch']} "
                     f"({meta['total_steps']} steps)")
        elif last_path.is_file() and ctx.main:
            echo(f"not resuming: {last_path} will be overwritten")
        if meta["finished"] or meta["epoch"] >= rec.epochs:
            if ctx.main:
                echo(f"training already complete ({meta['epoch']} epochs, {meta['stop_reason'] or 'max epochs'}); "
                     f"checkpoint: {out}")
            return TrainResult(out, last_path, log_path, meta["epoch"], "already complete", meta["history"],
                               meta["best"], notes, built.model.eval())

        # -- loaders --------------------------------------------------------------------------------------------------
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler

        if rec.batch_size % ctx.world:
            raise FakebenchError(f"Batch size {rec.batch_size} is not divisible by the {ctx.world} processes.")
        per_rank = rec.batch_size // ctx.world
        train_set = TrainImageDataset(train_records, RecipeTransform(rec, train=True, methods=methods), seed)
        sampler = DistributedSampler(train_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=seed)
        pin = ctx.device.type == "cuda"
        train_loader = DataLoader(train_set, batch_size=per_rank, sampler=sampler, num_workers=workers,
                                  pin_memory=pin)
        val_loader = None
        if val_records:
            val_set = TrainImageDataset(val_records, RecipeTransform(rec, train=False), seed)
            val_loader = DataLoader(val_set, batch_size=per_rank, shuffle=False, num_workers=workers, pin_memory=pin)
        step_module: nn.Module = built.trainable
        if ctx.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            step_module = DistributedDataParallel(built.trainable,
                                                  device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None)
        loss_fn = nn.BCEWithLogitsLoss()

        # -- epochs ---------------------------------------------------------------------------------------------------
        from tqdm.auto import tqdm

        plateau = meta["plateau"]
        history: list[dict[str, Any]] = meta["history"]
        for e in range(meta["epoch"], rec.epochs):
            built.model.train()
            if built.frozen is not None:
                built.frozen.eval()
            sampler.set_epoch(e)
            train_set.set_epoch(e)
            lr_now = optimizer.param_groups[0]["lr"]
            started = time.perf_counter()
            loss_sum, seen = 0.0, 0
            bar = tqdm(total=len(sampler), unit="img", desc=f"{detector} epoch {e + 1}/{rec.epochs}",
                       disable=not (progress and ctx.main), leave=False, dynamic_ncols=True)
            try:
                for images, target in train_loader:
                    images = images.to(ctx.device, non_blocking=True)
                    target = target.to(ctx.device, non_blocking=True).float()
                    if built.frozen is not None:
                        with torch.no_grad():
                            features = built.frozen(images).float()
                        logits = step_module(features)
                    else:
                        logits = step_module(images)
                    loss = loss_fn(logits.reshape(-1), target)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    meta["total_steps"] += 1
                    value = float(loss.detach())
                    loss_sum += value * len(target)
                    seen += len(target)
                    bar.update(len(target))
                    bar.set_postfix(loss=f"{loss_sum / seen:.4f}", lr=f"{lr_now:.1e}")
                    if on_step is not None:
                        on_step(meta["total_steps"], value)
            except KeyboardInterrupt:
                if ctx.main:
                    echo(f"\ninterrupted during epoch {e + 1}; the last finished epoch ({meta['epoch']}) is saved in "
                         f"{last_path}. Run the same command again to resume.")
                raise
            finally:
                bar.close()
            seconds = time.perf_counter() - started
            train_loss = ctx.mean(loss_sum / max(seen, 1), seen)
            event = None
            stop = False
            if rec.schedule == "step" and e % rec.step_every == 0 and e != 0:
                _set_lr(optimizer, lr_now * rec.lr_factor)
                event = f"lr x{rec.lr_factor:g} -> {lr_now * rec.lr_factor:.3g}"
            val_metrics, is_best, val_seconds = None, False, 0.0
            if val_loader is not None:
                v0 = time.perf_counter()
                val_metrics = _evaluate(built, val_loader, ctx.device)
                val_seconds = time.perf_counter() - v0
                acc = val_metrics["acc"]
                if rec.schedule == "plateau":
                    is_best, early = _plateau_update(plateau, acc, rec)
                    if early:
                        new_lr = lr_now * rec.lr_factor
                        if new_lr < rec.min_lr * (1 - 1e-9):
                            stop, event = True, f"early stopping (lr would fall to {new_lr:.1e} < {rec.min_lr:g})"
                        else:
                            _set_lr(optimizer, new_lr)
                            plateau.update(best=None, counter=0, drops=plateau["drops"] + 1)
                            event = f"no improvement for {rec.patience} epochs: lr /{1 / rec.lr_factor:g} -> {new_lr:.1e}"
                else:
                    is_best = meta["best"] is None or acc > meta["best"]["acc"]
                if is_best:
                    meta["best"] = {"epoch": e + 1, "acc": acc, "ap": val_metrics["ap"]}
            meta["epoch"] = e + 1
            history.append({"epoch": e + 1, "train_loss": train_loss, "lr": lr_now, "steps": meta["total_steps"],
                            "seconds": round(seconds, 3), "images_per_s": round(seen * ctx.world / seconds, 3),
                            "val": val_metrics, "val_seconds": round(val_seconds, 3), "best": is_best,
                            "event": event})
            if stop or e + 1 >= rec.epochs:
                meta["finished"], meta["stop_reason"] = True, "early stopping" if stop else "max epochs"
            meta["updated"] = now_iso()
            if ctx.main:
                ckpt = {"model": built.trainable.state_dict(), "optimizer": optimizer.state_dict(),
                        "total_steps": meta["total_steps"], "epoch": meta["epoch"], "fakebench": meta}
                blob = _save_bytes(ckpt)
                atomic_write_bytes(last_path, blob)
                if rec.final == "last" or (rec.final == "best" and is_best):
                    atomic_write_bytes(out, blob)
                atomic_write_text(log_path, "".join(json.dumps(h) + "\n" for h in history))
                val_text = (f"  val acc {100 * val_metrics['acc']:.2f} ap {100 * (val_metrics['ap'] or 0):.2f}"
                            f"{' (best)' if is_best else ''}" if val_metrics else "")
                echo(f"{detector} epoch {e + 1}/{rec.epochs}  loss {train_loss:.4f}{val_text}  lr {lr_now:.1e}  "
                     f"{seconds:.1f}s ({seen * ctx.world / seconds:.1f} img/s)" + (f"  [{event}]" if event else ""))
            if stop:
                break
        if ctx.main:
            echo(f"done: {meta['epoch']} epochs ({meta['stop_reason']}); checkpoint {out} "
                 f"({rec.final} epoch{' ' + str(meta['best']['epoch']) if rec.final == 'best' and meta['best'] else ''})")
        return TrainResult(out, last_path, log_path, meta["epoch"], meta["stop_reason"], history, meta["best"], notes,
                           built.model.eval())
    finally:
        ctx.close()
