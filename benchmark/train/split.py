"""Deterministic train/held-back splits of a ``<set>/{0_real,1_fake}`` data root, for honest held-in evaluation.

Training on some images of a test set and then evaluating on the same folder would score the training images. This
module takes ``n`` images per label of each chosen set for training and leaves the rest for evaluation:

* ``<out>/train/<set>/{0_real,1_fake}/`` -- the training images (copies, or symlinks with ``--symlink``);
* ``<out>/eval/<set>/{0_real,1_fake}/`` -- the held-back images of the same sets (never seen in training);
* ``<out>/eval/<other>`` -- a symlink to every other top-level folder of the data root, so ``<out>/eval`` can replace
  the data root in ``fakebench evaluate --data-root`` with any manifest written for it;
* ``<out>/split.json`` -- the seed, the counts and the relative file names of both parts with their sha256;
* ``<out>/manifest.yaml`` (with ``manifest=``) -- a copy of a manifest written for the data root in which the split
  sets' entries count only the held-back images and are marked held-in for the given weights (e.g. ``npr.file``).

Re-running with the same data root, seed and counts reuses an existing split untouched (so a training run reading
``train/`` is never disturbed) and only rewrites the manifest.

Selection: within each set and label, the sorted file list is shuffled with ``random.Random("<seed>/<set>/<label>")``
and the first ``n`` go to training.

Command line::

    python -m benchmark.training.split --data-root ../shared/data --take gangen_began=150 --take cifake=150 \\
        --out results/runs/local/data --manifest shared-samples --held-in npr.file --held-in cnnspot.file
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any, Mapping

from fakebench.data.images import FAKE_DIR, REAL_DIR, list_images
from fakebench.core.errors import DataError
from fakebench.core.files import atomic_write_text, sha256_file

__all__ = ["make_split", "derive_manifest"]


def _place(src: Path, dst: Path, symlink: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if symlink:
        dst.symlink_to(src.resolve())
    else:
        shutil.copy2(src, dst)


def _reusable(out: Path, root: Path, take: Mapping[str, int], seed: int) -> dict[str, Any] | None:
    """The existing ``split.json`` when it describes the same split and every file is still in place."""
    try:
        record = json.loads((out / "split.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("data_root") != str(root) or record.get("seed") != seed or record.get("take") != dict(take):
        return None
    for name, labels in record["sets"].items():
        for label_dir, parts in labels.items():
            for part, files in parts.items():
                base = out / part / name / label_dir
                if any(not (base / Path(f["file"]).relative_to(Path(name) / label_dir)).exists() for f in files):
                    return None
    return record


def make_split(data_root: str | os.PathLike, out: str | os.PathLike, take: Mapping[str, int], *, seed: int = 0,
               symlink: bool = False, manifest: str | os.PathLike | None = None,
               held_in: tuple[str, ...] = ()) -> dict[str, Any]:
    """Split sets of a data root into training images and held-back evaluation images.

    Args:
        data_root: folder holding ``<set>/0_real`` and ``<set>/1_fake`` (other top-level folders are linked into the
            evaluation tree unchanged).
        out: output folder (``train/``, ``eval/``, ``split.json``); existing ``train/`` and ``eval/`` are replaced.
        take: ``{set name: images per label for training}``.
        seed: selection seed.
        symlink: link the split images instead of copying them.
        manifest: a manifest YAML written for ``data_root``; when given, :func:`derive_manifest` writes
            ``<out>/manifest.yaml`` for ``<out>/eval``.
        held_in: weights ids (``detector.tag``) trained on the split, marked held-in in the derived manifest.

    Returns:
        The ``split.json`` content.

    Raises:
        DataError: a set is missing, lacks ``0_real``/``1_fake``, or has no more than ``n`` images of a label (nothing
            would be left for evaluation).
    """
    root, out = Path(data_root).expanduser().resolve(), Path(out).expanduser()
    if not root.is_dir():
        raise DataError(f"Data root {root} does not exist.")
    existing = _reusable(out, root, take, seed)
    if existing is not None:
        if manifest is not None:
            derive_manifest(manifest, existing, held_in, out / "manifest.yaml")
        existing["reused"] = True
        return existing
    for part in ("train", "eval"):
        if (out / part).exists():
            shutil.rmtree(out / part)
    record: dict[str, Any] = {"data_root": str(root), "seed": seed, "take": dict(take), "sets": {}}
    for name, n in take.items():
        set_dir = root / name
        record["sets"][name] = {}
        for label_dir in (REAL_DIR, FAKE_DIR):
            files = sorted(list_images(set_dir / label_dir)) if (set_dir / label_dir).is_dir() else []
            if len(files) <= n:
                raise DataError(f"{set_dir / label_dir} has {len(files)} images; taking {n} for training would leave "
                                "none for evaluation.")
            random.Random(f"{seed}/{name}/{label_dir}").shuffle(files)
            parts = {"train": sorted(files[:n]), "eval": sorted(files[n:])}
            for part, chosen in parts.items():
                for src in chosen:
                    _place(src, out / part / name / label_dir / src.relative_to(set_dir / label_dir), symlink)
            record["sets"][name][label_dir] = {
                part: [{"file": p.relative_to(root).as_posix(), "sha256": sha256_file(p)} for p in chosen]
                for part, chosen in parts.items()}
    (out / "eval").mkdir(parents=True, exist_ok=True)
    linked = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if child.name not in take:
            (out / "eval" / child.name).symlink_to(child)
            linked.append(child.name)
    record["linked"] = linked
    record["counts"] = {name: {label: {part: len(v) for part, v in parts.items()} for label, parts in labels.items()}
                        for name, labels in record["sets"].items()}
    atomic_write_text(out / "split.json", json.dumps(record, indent=2) + "\n")
    if manifest is not None:
        derive_manifest(manifest, record, held_in, out / "manifest.yaml")
    return record


def derive_manifest(manifest: str | os.PathLike, record: Mapping[str, Any], held_in: tuple[str, ...],
                    out: str | os.PathLike) -> Path:
    """Copy a manifest for the split's ``eval`` tree: entries whose ``path`` is a split set get the held-back image
    counts, the ``held_in`` weights ids and a note; every other entry is unchanged.

    Raises:
        DataError: the manifest cannot be read, or no entry points at a split set.
    """
    import yaml

    path = Path(manifest)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"Cannot read manifest {path}: {exc}") from exc
    touched = []
    for entry in data.get("datasets") or []:
        name = entry.get("path")
        if name in record["sets"]:
            counts = record["counts"][name]
            entry["expected_count"] = {"real": counts[REAL_DIR]["eval"], "fake": counts[FAKE_DIR]["eval"]}
            entry["held_in"] = sorted(set(entry.get("held_in") or []) | set(held_in))
            entry["notes"] = (f"HELD-BACK PART ONLY: {counts[REAL_DIR]['train']} real + {counts[FAKE_DIR]['train']} "
                              f"fake images of this set were used for training ({', '.join(held_in) or '-'}); these "
                              f"are the remaining ones (split.json, seed {record['seed']}). "
                              + str(entry.get("notes") or "")).strip()
            touched.append(entry.get("name"))
    if not touched:
        raise DataError(f"No dataset in {path} has a path among the split sets {sorted(record['sets'])}.")
    header = (f"# Derived by benchmark.training.split from {path.as_posix()} for the evaluation tree of a train/held-back "
              f"split\n# (data root {record['data_root']}, seed {record['seed']}, take {dict(record['take'])}).\n"
              f"# Changed entries: {', '.join(touched)} (held-back counts, held_in {list(held_in)}). Use with "
              "--data-root <split>/eval.\n")
    return atomic_write_text(out, header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110))


def _main() -> None:  # pragma: no cover - thin CLI, exercised through make_split in the tests
    import click

    @click.command("split", help=__doc__.split("\n\n")[0])
    @click.option("--data-root", required=True, type=click.Path(file_okay=False, exists=True))
    @click.option("--take", "takes", multiple=True, required=True, help="SET=N: N images per label of SET for training.")
    @click.option("--out", required=True, type=click.Path(file_okay=False))
    @click.option("--seed", default=0, show_default=True, type=int)
    @click.option("--symlink", is_flag=True, help="Link instead of copying the split images.")
    @click.option("--manifest", type=click.Path(dir_okay=False, exists=True),
                  help="Manifest for --data-root to derive <out>/manifest.yaml from.")
    @click.option("--held-in", "held_in", multiple=True, help="detector.tag trained on the split (repeatable).")
    def command(data_root: str, takes: tuple[str, ...], out: str, seed: int, symlink: bool, manifest: str | None,
                held_in: tuple[str, ...]) -> None:
        take = {}
        for item in takes:
            name, sep, count = item.partition("=")
            if not sep or not count.isdigit() or int(count) < 1:
                raise click.BadParameter(f"expected SET=N with N >= 1, got {item!r}", param_hint="--take")
            take[name] = int(count)
        try:
            record = make_split(data_root, out, take, seed=seed, symlink=symlink, manifest=manifest,
                                held_in=held_in)
        except DataError as exc:
            raise click.ClickException(str(exc)) from exc
        for name, labels in record["counts"].items():
            click.echo(f"{name}: " + ", ".join(f"{label} {c['train']} train / {c['eval']} eval"
                                               for label, c in labels.items()))
        click.echo(f"linked unchanged: {', '.join(record['linked']) or '-'}")
        click.echo(f"{'reused' if record.get('reused') else 'wrote'} {Path(out) / 'split.json'}")
        if manifest:
            click.echo(f"wrote {Path(out) / 'manifest.yaml'}")

    command()


if __name__ == "__main__":  # pragma: no cover
    _main()
