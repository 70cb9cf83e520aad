"""Per-image notes from the detector (NPR's odd-size trim) and from the preset (zero padding) in predictions.csv."""

from __future__ import annotations

from fakebench.data.images import discover_data_dir
from fakebench.detectors.card import Preset
from fakebench.detectors.npr import NPR
from fakebench.eval.cache import PredictionCache
from fakebench.eval.runner import collect_predictions
from conftest import make_image


def _tree(root, size_of):
    """``root/set/{0_real,1_fake}/*.png``; ``size_of(i)`` -> (width, height) of image ``i``."""
    from PIL import Image

    for i in range(4):
        label = "0_real" if i % 2 == 0 else "1_fake"
        path = make_image(root / "set" / label / f"im{i}.png", "fake" if i % 2 else "real", seed=i)
        Image.open(path).resize(size_of(i)).save(path)
    return discover_data_dir(root)


def test_odd_size_trim_note_is_in_the_row_and_replayed_from_the_cache(npr_checkpoint, tmp_path):
    records = _tree(tmp_path / "data", lambda i: (47, 33) if i == 0 else (48, 32))
    detector = NPR.load(npr_checkpoint, preset="native")
    cache = PredictionCache(tmp_path / "cache.sqlite")
    first, stats = collect_predictions(detector, records, tmp_path / "a.csv", batch_size=4, num_workers=0,
                                       cache=cache, progress=False)
    assert stats.computed == 4
    notes = dict(zip(first["image"].map(lambda p: p.rsplit("/", 1)[1]), first["note"]))
    assert "odd size 47x33 (WxH): last row and last column trimmed" in notes["im0.png"]
    assert all(notes[f"im{i}.png"] == "" for i in (1, 2, 3))  # even sizes: nothing trimmed, no note
    second, stats = collect_predictions(detector, records, tmp_path / "b.csv", batch_size=4, num_workers=0,
                                        cache=cache, progress=False)
    assert stats.cached == 4 and stats.computed == 0
    assert second["note"].tolist() == first["note"].tolist()
    assert "odd size 47x33" in (tmp_path / "b.csv").read_text()


def test_odd_size_note_from_dataloader_workers(npr_checkpoint, tmp_path):
    records = _tree(tmp_path / "data", lambda i: (47, 33) if i == 0 else (48, 32))
    frame, _ = collect_predictions(NPR.load(npr_checkpoint), records, tmp_path / "p.csv", batch_size=4,
                                   num_workers=1, progress=False)
    assert frame["note"].str.contains("odd size 47x33").sum() == 1


def test_genimage_preset_does_not_note_tiled_images_as_padded(npr_checkpoint, tmp_path, caplog):
    records = _tree(tmp_path / "data", lambda i: (64, 64))
    genimage, _ = collect_predictions(NPR.load(npr_checkpoint, preset="genimage"), records, tmp_path / "g.csv",
                                      batch_size=4, num_workers=0, progress=False)
    assert genimage["prob"].notna().all()
    assert not genimage["note"].str.contains("zero-padded").any()
    assert "zero-padded" not in caplog.text
    # the same crop without tiling does pad: noted per image and warned at the start of the run
    crop_only = Preset("crop224_test", crop=224)
    padded, stats = collect_predictions(NPR.load(npr_checkpoint, preset=crop_only), records, tmp_path / "c.csv",
                                        batch_size=4, num_workers=0, progress=False)
    assert padded["note"].str.contains("64x64 is smaller than the 224 crop: zero-padded").all()
    assert any("zero-padded" in note for note in stats.notes)
