"""Format/size bias audit: JPEG quality estimate, metadata cache, the metadata-only shortcut baseline (flags a planted
format bias, not an unbiased set), per-stratum accuracy, the debiased re-encode, and the ``audit`` command."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from fakebench.analysis import bias
from fakebench.analysis.bias import (estimate_jpeg_quality, image_metadata, metadata_table, shortcut_baseline,
                                     size_bucket, stratified_accuracy)
from fakebench.analysis.perturb import parse_perturbation
from fakebench.data.images import ImageRecord


def _random_image(rng: np.random.Generator, size: int = 32) -> Image.Image:
    base = rng.normal(128, 40, (size // 4, size // 4, 3))
    arr = np.repeat(np.repeat(base, 4, 0), 4, 1) + rng.normal(0, 10, (size, size, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _write_set(root, n: int, real_fmt: str, fake_fmt: str, seed: int = 0) -> list[ImageRecord]:
    rng = np.random.default_rng(seed)
    records = []
    for label, fmt, folder in ((0, real_fmt, "0_real"), (1, fake_fmt, "1_fake")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            ext = "jpg" if fmt == "JPEG" else "png"
            path = root / folder / f"{i}.{ext}"
            kwargs = {"quality": 90} if fmt == "JPEG" else {}
            _random_image(rng).save(path, fmt, **kwargs)
            records.append(ImageRecord(str(path), label, root.name, root.name))
    return records


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 95])
def test_quality_estimate_recovers_pil_quality(quality):
    buf = io.BytesIO()
    _random_image(np.random.default_rng(0), 64).save(buf, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buf.getvalue())) as img:
        estimate, exact = estimate_jpeg_quality(img.quantization)
    assert abs(estimate - quality) <= 2 and exact


def test_quality_estimate_of_a_non_standard_table_is_approximate():
    table = [int(v) for v in np.clip(np.round(np.asarray(bias.IJG_LUMINANCE) * 0.37 + 3), 1, 255)]
    estimate, exact = estimate_jpeg_quality({0: table})
    assert not exact and 50 < estimate < 100
    assert estimate_jpeg_quality({}) == (None, False)


def test_metadata_fields(tmp_path):
    rng = np.random.default_rng(0)
    jpg, png = tmp_path / "a.jpg", tmp_path / "b.png"
    _random_image(rng, 48).save(jpg, "JPEG", quality=75, subsampling=0)
    _random_image(rng, 32).convert("L").save(png, "PNG")
    a, b = image_metadata(jpg), image_metadata(png)
    assert a["format"] == "JPEG" and a["jpeg_quality"] == 75 and a["subsampling"] == "4:4:4" and a["mode"] == "RGB"
    assert (a["width"], a["height"], a["file_size"], a["has_exif"]) == (48, 48, jpg.stat().st_size, False)
    assert b["format"] == "PNG" and b["jpeg_quality"] is None and b["subsampling"] == "" and b["mode"] == "L"
    exif = Image.Exif()
    exif[0x0110] = "camera"
    _random_image(rng, 32).save(tmp_path / "c.jpg", "JPEG", exif=exif)
    assert image_metadata(tmp_path / "c.jpg")["has_exif"] is True


def test_metadata_cache_hit_avoids_reopening(tmp_path, monkeypatch):
    records = _write_set(tmp_path / "s", 3, "JPEG", "PNG")
    first = metadata_table(records)
    monkeypatch.setattr(bias.Image, "open", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-read")))
    second = metadata_table(records)
    pd.testing.assert_frame_equal(first, second)
    # a changed file is a new sha256: a miss, so it is read again
    Image.new("RGB", (8, 8)).save(records[0].path, "JPEG")
    with pytest.raises(AssertionError, match="re-read"):
        metadata_table(records)


def test_shortcut_flags_planted_format_bias(tmp_path):
    meta = metadata_table(_write_set(tmp_path / "biased", 30, "JPEG", "PNG"))
    result = shortcut_baseline(meta, n_boot=200)
    assert result["shortcut_auc"] > 0.95 and result["flagged"]
    assert result["shortcut_auc_ci"][0] > 0.6
    assert result["n_real"] == result["n_fake"] == 30
    assert any("JPEG" in f or "PNG" in f or "quality" in f or "bits" in f for f in result["top_features"][:3])


def test_shortcut_does_not_flag_an_unbiased_set(tmp_path):
    meta = metadata_table(_write_set(tmp_path / "fair", 30, "PNG", "PNG", seed=1))
    result = shortcut_baseline(meta, n_boot=200)
    assert result["shortcut_auc"] < 0.8 and not result["flagged"]


def test_shortcut_needs_both_labels(tmp_path):
    meta = metadata_table(_write_set(tmp_path / "one", 3, "PNG", "PNG"))
    result = shortcut_baseline(meta[meta["label"] == 1])
    assert result["shortcut_auc"] is None and not result["flagged"] and result["reason"]


def test_stratified_accuracy():
    meta = pd.DataFrame({"sha256": ["a", "b", "c", "d"], "format": ["JPEG", "JPEG", "PNG", "PNG"],
                         "width": [100, 100, 600, 2000], "height": [50, 100, 400, 10]})
    preds = pd.DataFrame({"sha256": ["a", "b", "c", "d"], "dataset": ["x"] * 4, "label": [0, 0, 1, 1],
                          "decision": [0, 1, 1, 1], "prob": [0.1, 0.9, 0.8, 0.7]})
    table = stratified_accuracy(preds, meta)
    jpeg = table[(table["format"] == "JPEG") & (table["label"] == 0)]
    assert jpeg["n"].item() == 2 and jpeg["acc"].item() == 0.5
    assert set(table["size_bucket"]) == {"<=256", "513-1024", ">1024"}
    assert size_bucket(256, 10) == "<=256" and size_bucket(257, 10) == "257-512"


def test_debiased_reencode_removes_the_format_shortcut(tmp_path):
    """After reencode:jpeg90,32 applied to both classes, the stored files no longer tell real from fake."""
    records = _write_set(tmp_path / "biased", 30, "JPEG", "PNG")
    (view,) = parse_perturbation("reencode:jpeg90,32")
    out = []
    for r in records:
        path = tmp_path / "view" / f"{r.label}_{r.path.rsplit('/', 1)[1]}.jpg"
        path.parent.mkdir(exist_ok=True)
        view(Image.open(r.path).convert("RGB")).save(path, "JPEG", quality=90)
        out.append(ImageRecord(str(path), r.label, "view", "view"))
    result = shortcut_baseline(metadata_table(out), n_boot=200)
    assert not result["flagged"]


def test_audit_command(tmp_path):
    from fakebench.cli.audit import audit

    _write_set(tmp_path / "data" / "biased", 12, "JPEG", "PNG")
    _write_set(tmp_path / "data" / "fair", 12, "PNG", "PNG", seed=3)
    res = CliRunner().invoke(audit, ["--data-dir", str(tmp_path / "data"), "--output", str(tmp_path / "out"),
                                     "--n-boot", "200"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "out" / "bias_audit.json").read_text())
    assert saved["schema"] == "fakebench.bias_audit/1"
    by_set = {s["dataset"]: s for s in saved["sets"]}
    assert by_set["biased"]["flagged"] and not by_set["fair"]["flagged"]
    assert by_set["biased"]["flagged_container"] and not by_set["fair"]["flagged_container"]
    assert by_set["biased"]["formats"] == {"real": {"JPEG": 12}, "fake": {"PNG": 12}}
    assert (tmp_path / "out" / "bias_audit.csv").is_file()
    assert "biased" in (tmp_path / "out" / "bias_audit.md").read_text()
    assert "biased" in res.output


def test_container_only_variant_ignores_content_entropy(tmp_path):
    """Same format and size, fakes smoother (smaller PNGs): flagged on file size, not on the container."""
    rng = np.random.default_rng(5)
    records = []
    for label, noise in ((0, 30), (1, 2)):
        folder = tmp_path / "s" / str(label)
        folder.mkdir(parents=True)
        for i in range(20):
            arr = np.clip(rng.normal(128, noise, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(folder / f"{i}.png")
            records.append(ImageRecord(str(folder / f"{i}.png"), label, "s", "s"))
    meta = metadata_table(records)
    full = shortcut_baseline(meta, n_boot=100)
    container = shortcut_baseline(meta, n_boot=100, container_only=True)
    assert full["flagged"] and not container["flagged"] and container["shortcut_auc"] == 0.5
    planted = shortcut_baseline(metadata_table(_write_set(tmp_path / "b", 20, "JPEG", "PNG")), n_boot=100,
                                container_only=True)
    assert planted["flagged"]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(width: int, height: int, extra: bytes = b"") -> bytes:
    """A PNG whose header says ``width`` x ``height`` (the pixel data of a 1x1 image: only the header matters)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + extra
            + _png_chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00")) + _png_chunk(b"IEND", b""))


def test_audit_reports_decompression_bombs_and_continues(tmp_path):
    """Issue #20 item 3: a 20000^2 and a 100000^2 PNG header and a 4 MB zTXt chunk (PIL's text limit is 1 MB) are
    each reported as unreadable with the file named; the other images are audited."""
    import zlib

    from fakebench.cli.audit import audit

    _write_set(tmp_path / "data" / "set", 12, "JPEG", "PNG")
    fake = tmp_path / "data" / "set" / "1_fake"
    (fake / "bomb_20k.png").write_bytes(_png(20000, 20000))
    (fake / "bomb_100k.png").write_bytes(_png(100000, 100000))
    ztxt = _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"a" * (4 << 20)))
    (fake / "ztxt.png").write_bytes(_png(8, 8, ztxt))
    meta = metadata_table([ImageRecord(str(p), 1, "set", "set") for p in sorted(fake.glob("*.png"))])
    errors = dict(zip(meta["image"], meta["error"]))
    for name in ("bomb_20k.png", "bomb_100k.png", "ztxt.png"):
        assert name in errors[str(fake / name)] and errors[str(fake / name)], errors
    assert sum(bool(e) for e in errors.values()) == 3
    res = CliRunner().invoke(audit, ["--data-dir", str(tmp_path / "data"), "--output", str(tmp_path / "out"),
                                     "--n-boot", "200"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    (row,) = json.loads((tmp_path / "out" / "bias_audit.json").read_text())["sets"]
    assert row["unreadable"] == 3 and row["n_real"] == 12 and row["n_fake"] == 12
