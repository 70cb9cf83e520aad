"""Prompt tuning of AntifakePrompt's pseudo-word: the two ``[*]`` vectors, everything else frozen.

Recipe of the official repository (``nctu-eva-lab/AntifakePrompt``: ``lavis/projects/textual-inversion/
textinv_train.yaml``, ``run_scripts/textual-inversion/train.sh``, ``lavis/runners/runner_base.py``, model
``forward`` in ``blip2_vicuna_instruct_textinv.py``), re-implemented:

* **Loss**: causal-LM cross-entropy on the answer ``yes</s>`` (real) or ``no</s>`` (fake) after
  ``[32 query outputs] + '</s>' + 'Is this photo real [*]?'``; query and instruction positions are ignored, the mean
  runs over the answer tokens of the batch.
* **Trainable**: the Q-Former and LLM pseudo-word vectors only (768 + 4096 = 4,864 parameters in the real model).
* **Optimiser**: AdamW, betas (0.9, 0.999), weight decay 0.05 (LAVIS decays every parameter with ``ndim >= 2``; the
  vectors are ``[1, d]``), ``init_lr`` 1e-5.
* **Schedule**: LAVIS ``linear_warmup_cosine_lr`` with ``warmup_steps 0``, ``min_lr 0``: the learning rate is constant
  within an epoch and follows ``min_lr + (init_lr - min_lr) * (1 + cos(pi * epoch / max_epoch)) / 2`` across epochs.
* **Run**: 10 epochs, batch 6 per GPU (the Sept-2023 runs used 4 GPUs, i.e. 24), seed 42, fp16 with loss scaling.
* **Augmentation** (``blip2_image_train_textinv``): shorter side bicubic to 224, random 224 crop, horizontal flip,
  AntifakePrompt mean/std.
* **Modes**: the runner calls ``model.train()``; the ViT is pinned to eval (``disabled_train``) and LLaMA has no
  dropout, so only the Q-Former's dropout (p = 0.1) is active. The same is done here.
* **Model selection**: with a validation set, the epoch with the lowest validation loss (LAVIS ``agg_metrics =
  1 / val_loss``); without one, the last epoch.

Determinism and resuming: the data order of epoch ``e``, the augmentation of image ``i`` in epoch ``e`` and the
dropout of global step ``k`` each come from their own generator seeded from ``(seed, e, i, k)``, so a run resumed from
the state saved after any epoch (or at a ``max_steps`` stop) continues exactly as an uninterrupted run would (on the
same device and library versions). The state (vectors, AdamW, scheduler, loss scaler, counters) is written next to
``out`` as ``<out stem>.last<suffix>`` after every epoch.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from fakebench.core.errors import DataError, FakebenchError

from fakebench.detectors.antifakeprompt import (DEFAULT_BASE_MODEL, DEFAULT_LLM_MODEL, LAVIS_LLM_KEY, LAVIS_QFORMER_KEY, PSEUDO_WORD,
                             AntifakePrompt, PseudoWordState, write_pseudo_word_checkpoint)
from fakebench.detectors.antifakeprompt.checkpoint import _check_primitives
from fakebench.train.data import DIGEST_METHOD
from fakebench.detectors.base import WeightsInfo

__all__ = ["train_prompt", "prompt_tuning_loss", "lr_at", "resume_state_path", "FORMAT"]

#: ``fakebench['format']`` of the checkpoints written here.
FORMAT = "antifakeprompt-prompt-tuning/1"
_BETAS = (0.9, 0.999)
_MIN_LR, _WARMUP_LR, _WARMUP_STEPS = 0.0, 1e-8, 0


def _seed(*parts: Any) -> int:
    """A 63-bit seed derived from ``parts`` (stable across runs and platforms)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def lr_at(epoch: int, step_in_epoch: int, *, init_lr: float, max_epoch: int, min_lr: float = _MIN_LR,
          warmup_lr: float = _WARMUP_LR, warmup_steps: int = _WARMUP_STEPS) -> float:
    """Learning rate of LAVIS ``LinearWarmupCosineLRScheduler`` at ``(epoch, step_in_epoch)`` (both 0-based).

    Linear warm-up from ``warmup_lr`` over the first ``warmup_steps`` steps of epoch 0, else the per-epoch cosine
    ``min_lr + (init_lr - min_lr) * (1 + cos(pi * epoch / max_epoch)) / 2``.
    """
    if epoch == 0 and warmup_steps > 0 and step_in_epoch < warmup_steps:
        return warmup_lr + (init_lr - warmup_lr) * step_in_epoch / max(warmup_steps, 1)
    return min_lr + (init_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * epoch / max_epoch))


def resume_state_path(out: str | os.PathLike) -> Path:
    """Where the resume state of ``out`` lives: ``model.pth`` -> ``model.last.pth`` (the name ``fakebench train``
    uses for every detector)."""
    out = Path(out)
    return out.with_name(f"{out.stem}.last{out.suffix or '.pth'}")


# ---------------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------------
class _Images:
    """Decoded, transformed images keyed by ``(index, epoch)`` (training, seeded augmentation) or ``index`` (eval).

    Items are ``(tensor (3, S, S) float32, label)``. An unreadable file raises :class:`DataError` naming it.
    """

    def __init__(self, records: Sequence[Any], detector: AntifakePrompt, *, augment: bool, seed: int) -> None:
        self.records, self.augment, self.seed = records, augment, seed
        self.preset = detector.preset
        self.size = int(detector.preset.crop or detector.model.config.vision_config.image_size)
        self.eval_transform = detector.transform()

    def __len__(self) -> int:
        return len(self.records)

    def _train_transform(self, img, gen: torch.Generator) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        preset = self.preset
        interp = {"bicubic": InterpolationMode.BICUBIC, "bilinear": InterpolationMode.BILINEAR,
                  "nearest": InterpolationMode.NEAREST}[preset.interpolation]
        if preset.resize is not None:
            size = [preset.resize, preset.resize] if preset.resize_mode == "square" else preset.resize
            img = TF.resize(img, size, interpolation=interp, antialias=True)
        width, height = img.size
        if width < self.size or height < self.size:
            img = TF.center_crop(img, [max(height, self.size), max(width, self.size)])  # zero-pad like RandomCrop
            width, height = img.size
        top = int(torch.randint(0, height - self.size + 1, (1,), generator=gen))
        left = int(torch.randint(0, width - self.size + 1, (1,), generator=gen))
        img = TF.crop(img, top, left, self.size, self.size)
        if float(torch.rand((), generator=gen)) < 0.5:
            img = TF.hflip(img)
        return TF.normalize(TF.to_tensor(img), list(preset.mean), list(preset.std))

    def __getitem__(self, key: Any) -> tuple[torch.Tensor, int]:
        from fakebench.data.images import UnreadableImage, load_image

        index, epoch = key if isinstance(key, tuple) else (key, None)
        record = self.records[index]
        try:
            img, _ = load_image(record.path)
        except UnreadableImage as exc:
            raise DataError(f"Cannot read training image {exc}. Remove or replace the file and run again (training "
                            f"resumes from the last finished epoch).") from exc
        if self.augment:
            return self._train_transform(img, torch.Generator().manual_seed(_seed(self.seed, "aug", epoch, index))), \
                record.label
        return self.eval_transform(img), record.label


def _collate(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items], dtype=torch.long)


def _records(real_dir: Any, fake_dir: Any, what: str) -> list[Any]:
    from fakebench.data.images import discover_folder

    records = []
    for folder, label, flag in ((real_dir, 0, "real"), (fake_dir, 1, "fake")):
        if folder is None:
            raise DataError(f"{what}: both the real and the fake folder are needed (missing the {flag} one).")
        records += discover_folder(folder, label)
    return records


def _digest(records: Sequence[Any], roots: dict[int, Path]) -> str:
    """The training-data digest shared with the recipe trainer (:func:`fakebench.train.data.describe_data`): sha256
    over the sorted ``<folder name>/<relative path>\t<label>\t<file sha256>`` lines, so renamed, added, removed or
    edited files all change it, and two checkpoints trained on the same bytes carry the same digest."""
    from fakebench.train.data import describe_data

    sources = [{"path": str(roots[label]), "kind": kind} for label, kind in ((0, "real"), (1, "fake"))]
    return describe_data(records, sources, role="digest")["digest"]


# ---------------------------------------------------------------------------------------------------------------------
# Loss
# ---------------------------------------------------------------------------------------------------------------------
def prompt_tuning_loss(detector: AntifakePrompt, pixel_values: torch.Tensor,
                       labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The language-modelling loss of the target answers and the answer log-likelihoods, from one forward pass.

    Sequence per image: ``[<image>] * 32 + '</s>' + prompt + answer + '</s>'`` with ``answer`` = the real answer
    (``yes``) for label 0 and the fake answer (``no``) for label 1; labels are ``-100`` except on ``answer + '</s>'``
    (right-padded with ignored ``</s>`` when answers differ in length).

    Args:
        detector: the detector (its model, prompt ids and device).
        pixel_values: ``(N, 3, H, W)`` float32.
        labels: ``(N,)`` long, 0 = real, 1 = fake.

    Returns:
        ``(loss, ll)``: the scalar mean cross-entropy over all target tokens of the batch (float32, differentiable
        w.r.t. the pseudo-word vectors) and ``(N, 2)`` float32 log-probabilities of the first token of each answer at
        the last prompt position (detached; the scores :meth:`AntifakePrompt.predict` uses when answers are single
        tokens).
    """
    ids = detector.ids
    prompt = list(ids.llm)
    n_prompt = len(prompt)
    targets = [list(a) + [ids.eos] for a in ids.answers]
    width = max(len(t) for t in targets)
    rows, tgt_rows, att_rows = [], [], []
    for label in labels.tolist():
        tgt = targets[int(label)]
        pad = width - len(tgt)
        rows.append(prompt + tgt + [ids.eos] * pad)
        tgt_rows.append([-100] * n_prompt + tgt + [-100] * pad)
        att_rows.append([1] * (n_prompt + len(tgt)) + [0] * pad)
    device = detector.device
    inputs = detector.model_inputs(pixel_values)
    inputs["input_ids"] = torch.tensor(rows, device=device)
    inputs["attention_mask"] = torch.tensor(att_rows, device=device)
    logits = detector.restrict_vocab(detector.model(**inputs).logits.float())  # LAVIS' 32,001 Vicuna rows only
    target = torch.tensor(tgt_rows, device=device)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), target[:, 1:].reshape(-1),
                           ignore_index=-100)
    with torch.no_grad():
        logp = logits[:, n_prompt - 1].log_softmax(-1)
        ll = logp[:, [a[0] for a in ids.answers]].detach().cpu()
    return loss, ll


# ---------------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------------
def _set_train_modes(detector: AntifakePrompt, training: bool) -> None:
    detector.model.eval()
    if training:
        detector.model.qformer.train()  # LAVIS: model.train() with the ViT pinned to eval; LLaMA has no dropout


@torch.no_grad()
def _validate(detector: AntifakePrompt, loader: Any) -> tuple[float, float]:
    """Mean validation loss (per target token, weighted by batch) and accuracy of the official decision."""
    _set_train_modes(detector, False)
    total, n_tokens, correct, n_images = 0.0, 0, 0, 0
    tokens_per_image = len(detector.ids.answers[0]) + 1
    for pixels, labels in loader:
        loss, ll = prompt_tuning_loss(detector, pixels, labels)
        if not detector.ids.single_token_answers:
            ll = detector.answer_log_likelihoods(pixels)
        total += float(loss) * len(labels) * tokens_per_image
        n_tokens += len(labels) * tokens_per_image
        correct += int(((ll[:, 1] > ll[:, 0]).long() == labels).sum())
        n_images += len(labels)
    return total / max(n_tokens, 1), correct / max(n_images, 1)


def _prepare_detector(model: Any, base_model: Any, llm_model: Any, device: Any, seed: int) -> AntifakePrompt:
    if model is None:
        return AntifakePrompt.untrained(base_model=base_model or DEFAULT_BASE_MODEL,
                                        llm_model=llm_model or DEFAULT_LLM_MODEL, device=device, seed=seed)
    if not isinstance(model, AntifakePrompt):
        raise FakebenchError(f"train_prompt(model=...) takes an AntifakePrompt detector (AntifakePrompt.from_model or "
                             f".untrained), not {type(model).__name__}.")
    if device is not None:
        model.to(device)
    return model


def _key_diff(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(current))
    return [f"{k}: saved {saved.get(k)!r}, now {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]


def train_prompt(*, real_dir: str | os.PathLike, fake_dir: str | os.PathLike, out: str | os.PathLike,
                 val_real_dir: str | os.PathLike | None = None, val_fake_dir: str | os.PathLike | None = None,
                 epochs: int = 10, batch_size: int = 6, lr: float = 1e-5, weight_decay: float = 0.05,
                 base_model: str | os.PathLike | None = None, llm_model: str | os.PathLike | None = None,
                 seed: int = 42, device: str | torch.device | None = None, resume: bool = True,
                 max_steps: int | None = None, model: AntifakePrompt | None = None, workers: int | None = None,
                 progress: bool = True) -> Path:
    """Tune AntifakePrompt's two pseudo-word vectors on a real and a fake image folder (the paper's recipe; see the
    module docstring) and save a checkpoint that :meth:`AntifakePrompt.load` reads.

    Args:
        real_dir: folder of real images (searched recursively; target answer ``yes``).
        fake_dir: folder of fake images (target answer ``no``).
        out: checkpoint to write (``.pth``), in the official LAVIS layout ``{'model': {LAVIS keys: [1, 768],
            [1, 4096]}, 'epoch', 'config', 'fakebench': metadata}``; the metadata (primitives only) records the data
            folders, image counts, a file-list digest, the recipe, the base models and the per-epoch history. The
            resume state goes next to it (:func:`resume_state_path`).
        val_real_dir, val_fake_dir: optional validation folders (both, or neither). With them, ``out`` holds the epoch
            with the lowest validation loss; without them, the last epoch.
        epochs: number of epochs (LAVIS ``max_epoch`` 10); also the length of the cosine schedule.
        batch_size: images per optimiser step (LAVIS ``batch_size_train`` 6 per GPU).
        lr: initial learning rate (LAVIS ``init_lr`` 1e-5).
        weight_decay: AdamW weight decay (0.05).
        base_model: InstructBLIP hub id or folder (default ``Salesforce/instructblip-vicuna-7b``); ignored when
            ``model`` is given.
        llm_model: LLM hub id or folder (default ``lmsys/vicuna-7b-v1.3``); ignored when ``model`` is given.
        seed: seed of the initial vectors, data order, augmentation and dropout (LAVIS 42).
        device: ``None`` = CUDA when available, else CPU (a 7B model trains only on a GPU in practice).
        resume: continue from ``out``'s resume state when one exists (same data, recipe and base models), from the
            step after the last saved one, with AdamW, scheduler and loss-scaler state. ``False`` starts over.
        max_steps: stop after this many optimiser steps in total (counting resumed ones); the epoch in progress is
            validated and saved as it stands, and a later resumed call continues it. ``None`` = no limit.
        model: an :class:`AntifakePrompt` to train in place (tests pass a tiny one); its current vectors are the
            starting point. ``None`` builds :meth:`AntifakePrompt.untrained` from ``base_model``/``llm_model`` with
            vectors drawn from N(0, 0.02) with ``seed``. Afterwards its vectors are those saved in ``out``.
        workers: DataLoader worker processes (``None``: up to 4 on CUDA, 0 on CPU).
        progress: show tqdm progress bars (``False`` for ``--quiet``).

    Returns:
        The path of the written checkpoint (``out``, resolved).

    Raises:
        DataError: a folder is missing or holds no image, or an image cannot be read.
        FakebenchError: bad argument values, or a resume state made with other data/settings (the message lists the
            differences; pass ``resume=False`` or another ``out``).
        WeightsNotFoundError: base models unavailable (when ``model`` is ``None``).
    """
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from fakebench.detectors.checkpoints import read_checkpoint

    epochs, batch_size, lr, weight_decay, seed = int(epochs), int(batch_size), float(lr), float(weight_decay), int(seed)
    max_steps = None if max_steps is None else int(max_steps)
    if epochs < 1 or batch_size < 1 or lr <= 0 or weight_decay < 0 or (max_steps is not None and max_steps < 1):
        raise FakebenchError(f"Expected epochs >= 1, batch_size >= 1, lr > 0, weight_decay >= 0 and max_steps >= 1 "
                             f"or None; got {epochs}, {batch_size}, {lr}, {weight_decay}, {max_steps}.")
    if (val_real_dir is None) != (val_fake_dir is None):
        raise DataError("Validation needs both val_real_dir and val_fake_dir (or neither).")
    out = Path(out).expanduser().resolve()
    train_records = _records(real_dir, fake_dir, "Training data")
    val_records = _records(val_real_dir, val_fake_dir, "Validation data") if val_real_dir is not None else []
    roots = {0: Path(real_dir).expanduser().resolve(), 1: Path(fake_dir).expanduser().resolve()}
    data = {"real_dir": str(roots[0]), "fake_dir": str(roots[1]),
            "n_real": sum(r.label == 0 for r in train_records), "n_fake": sum(r.label == 1 for r in train_records),
            "digest": _digest(train_records, roots), "digest_method": DIGEST_METHOD,
            "val_real_dir": None, "val_fake_dir": None, "n_val_real": 0, "n_val_fake": 0, "val_digest": None}
    if val_records:
        val_roots = {0: Path(val_real_dir).expanduser().resolve(), 1: Path(val_fake_dir).expanduser().resolve()}
        data.update(val_real_dir=str(val_roots[0]), val_fake_dir=str(val_roots[1]),
                    n_val_real=sum(r.label == 0 for r in val_records),
                    n_val_fake=sum(r.label == 1 for r in val_records), val_digest=_digest(val_records, val_roots))

    det = _prepare_detector(model, base_model, llm_model, device, seed)
    init = det.weights.to_dict()
    recipe = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
              "betas": list(_BETAS), "min_lr": _MIN_LR, "warmup_lr": _WARMUP_LR, "warmup_steps": _WARMUP_STEPS,
              "schedule": "LAVIS linear_warmup_cosine_lr (per-epoch cosine)", "seed": seed,
              "loss": "causal-LM cross-entropy on 'yes</s>' (real) / 'no</s>' (fake)",
              "augment": "shorter-side resize, random crop, horizontal flip", "qformer_dropout": True,
              "selection": "lowest validation loss" if val_records else "last epoch"}
    resume_key = {"data_digest": data["digest"], "val_digest": data["val_digest"], **recipe,
                  "prompt": det.instruction, "base_model": det.base_model, "llm_model": det.llm_model,
                  "init": init["tag"], "init_sha256": init["sha256"]}
    base_meta = {"format": FORMAT, "detector": AntifakePrompt.name, "prompt": det.instruction,
                 "pseudo_word": PSEUDO_WORD, "answers": {"real": "yes", "fake": "no"}, "base_model": det.base_model,
                 "llm_model": det.llm_model, "data": data, "recipe": recipe, "init": init,
                 "parameters": int(sum(v.numel() for v in det.pseudo_word_vectors)),
                 "versions": {"torch": str(torch.__version__), "transformers": _version("transformers"),
                              "fakebench": _version("fakebench")}}

    _check_primitives(base_meta)  # fail now rather than when the first epoch is saved
    q_vec, l_vec = det.pseudo_word_vectors
    optimizer = torch.optim.AdamW([q_vec, l_vec], lr=lr, betas=_BETAS, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(train_records) / batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_at(
        step // steps_per_epoch, step % steps_per_epoch, init_lr=lr, max_epoch=epochs) / lr)
    # the LAVIS mixed layout keeps embed_tokens in fp32, so ask the LM head (fp16 under that layout) for the dtype
    use_scaler = (det.device.type == "cuda"
                  and det.model.language_model.get_output_embeddings().weight.dtype == torch.float16)
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    progress = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best_val_loss": None, "best_epoch": None,
                "history": []}
    state_path = resume_state_path(out)
    if resume and state_path.is_file():
        saved = read_checkpoint(state_path)
        meta = saved.get("fakebench", {}) if isinstance(saved, dict) else {}
        diff = _key_diff(meta.get("resume_key", {}), resume_key)
        if diff:
            raise FakebenchError(f"Resume state {state_path} was made with other data or settings ({'; '.join(diff)}). "
                                 f"Pass resume=False (--no-resume) to start over, or choose another output path.")
        det.set_pseudo_word(PseudoWordState(saved["model"][LAVIS_QFORMER_KEY], saved["model"][LAVIS_LLM_KEY]),
                            str(state_path))
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        if saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        progress = dict(meta["progress"])

    train_set = _Images(train_records, det, augment=True, seed=seed)
    if workers is None:
        workers = min(4, os.cpu_count() or 1) if det.device.type == "cuda" else 0
    val_loader = (DataLoader(_Images(val_records, det, augment=False, seed=seed), batch_size=batch_size,
                             num_workers=workers, collate_fn=_collate) if val_records else None)

    def save(path: Path, *, resume_state: bool, epoch: int) -> None:
        meta = {**base_meta, "progress": progress, "resume_key": resume_key,
                "epochs_completed": progress["epoch"], "global_step": progress["global_step"],
                "best_epoch": progress["best_epoch"], "val_loss": progress["best_val_loss"]}
        extra = ({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                  "scaler": scaler.state_dict() if use_scaler else {}} if resume_state else None)
        write_pseudo_word_checkpoint(path, q_vec, l_vec, metadata=meta, epoch=epoch, extra=extra)

    try:
        q_vec.requires_grad_(True)
        l_vec.requires_grad_(True)
        for epoch in range(progress["epoch"], epochs):
            if max_steps is not None and progress["global_step"] >= max_steps:
                break
            order = torch.randperm(len(train_records), generator=torch.Generator().manual_seed(
                _seed(seed, "order", epoch))).tolist()
            batches = [[(i, epoch) for i in order[s:s + batch_size]] for s in range(0, len(order), batch_size)]
            skip = progress["step_in_epoch"] if epoch == progress["epoch"] else 0
            loader = DataLoader(train_set, batch_sampler=batches[skip:], num_workers=workers, collate_fn=_collate)
            bar = tqdm(total=len(batches), initial=skip, desc=f"AntifakePrompt epoch {epoch + 1}/{epochs}",
                       unit="step", dynamic_ncols=True, disable=not progress)
            done, loss_sum, images, started = skip, 0.0, 0, time.perf_counter()
            for pixels, labels in loader:
                if max_steps is not None and progress["global_step"] >= max_steps:
                    break
                torch.manual_seed(_seed(seed, "step", progress["global_step"]))  # Q-Former dropout
                _set_train_modes(det, True)
                loss, _ = prompt_tuning_loss(det, pixels, labels)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                progress["global_step"] += 1
                done += 1
                loss_sum, images = loss_sum + float(loss.detach()), images + len(labels)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / (done - skip):.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}",
                                img_s=f"{images / max(time.perf_counter() - started, 1e-9):.1f}")
            bar.close()
            if done == skip:
                break  # stopped before any step of this epoch
            complete = done == len(batches)
            entry = {"epoch": epoch, "steps": done - skip, "complete": complete,
                     "train_loss": loss_sum / (done - skip), "lr": lr_at(epoch, 0, init_lr=lr, max_epoch=epochs)}
            if val_loader is not None:
                entry["val_loss"], entry["val_acc"] = _validate(det, val_loader)
            progress["history"] = progress["history"] + [entry]
            progress.update(epoch=epoch + 1 if complete else epoch, step_in_epoch=0 if complete else done)
            better = val_loader is None or progress["best_val_loss"] is None or \
                entry["val_loss"] < progress["best_val_loss"]
            if better:
                progress.update(best_epoch=epoch, best_val_loss=entry.get("val_loss"))
                save(out, resume_state=False, epoch=epoch)
            save(state_path, resume_state=True, epoch=epoch)
            summary = ", ".join(f"{k} {v:.4f}" for k, v in entry.items() if k in ("train_loss", "val_loss", "val_acc"))
            tqdm.write(f"AntifakePrompt epoch {epoch + 1}/{epochs}: {summary}" + (f"; saved {out}" if better else ""))
            if not complete:
                break
    finally:
        q_vec.requires_grad_(False)
        l_vec.requires_grad_(False)
        _set_train_modes(det, False)

    if not out.is_file():
        raise FakebenchError(f"No training step was run and {out} does not exist (max_steps={max_steps} was already "
                             f"reached, or the resume state {state_path} is from a finished run whose output was "
                             f"deleted). Pass resume=False to train again.")
    from fakebench.detectors.antifakeprompt import read_pseudo_word_checkpoint
    from fakebench.detectors.checkpoints import verify_sha256

    det.set_pseudo_word(read_pseudo_word_checkpoint(out), str(out))
    det.weights = WeightsInfo(tag="file", path=str(out), sha256=verify_sha256(out, None))
    return out


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
