"""Trustworthy runs (issue 12): no silent wrong result, no lost run, every fault a clear message.

Each test here failed on the code before the fix it names. Tiny images and the toy detector keep them fast.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from _toy import ToyHF
from cli import main
from conftest import make_image
from fakebench.core.errors import CheckpointError, DataError, FakebenchError
from fakebench.data.images import discover_data_dir, list_images, load_image
from fakebench.detectors.card import DetectorCard, Preset
from fakebench.eval.cache import PredictionCache
from fakebench.eval.harness import run_evaluation, sets_from_data_dir, sets_from_manifest, sets_from_real_fake_dirs
from fakebench.eval.runner import collect_predictions, read_predictions


@pytest.fixture
def toy():
    ToyHF.calls, ToyHF.fail_after = 0, None
    return ToyHF.load()


@contextmanager
def no_hang(seconds: int = 20):
    """Turn a hang into a test failure."""
    def boom(*_):
        raise TimeoutError(f"hung for {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _run(det, sets, out, **kw):
    kw.setdefault("use_cache", False)
    return run_evaluation(det, sets, output=out, data_label=kw.pop("data_label", "t"), num_workers=0,
                          progress=False, **kw)


# -- 1. resume by content ----------------------------------------------------------------------------------------
def test_resume_rescores_changed_images_and_drops_removed_ones(toy, image_tree, tmp_path):
    records = discover_data_dir(image_tree)
    out = tmp_path / "p.csv"
    first, _ = collect_predictions(toy, records, out, batch_size=4, num_workers=0, progress=False)
    changed = records[0]  # a real image whose bytes become a fake's
    make_image(Path(changed.path), "fake", seed=77)
    kept = records[:-1]  # the last image left the set
    ToyHF.calls = 0
    frame, stats = collect_predictions(toy, kept, out, batch_size=4, num_workers=0, progress=False)
    fresh, _ = collect_predictions(toy, kept[:1], tmp_path / "fresh.csv", batch_size=4, num_workers=0,
                                   progress=False)
    row = frame.set_index("image").loc[changed.path]
    assert row["prob"] == pytest.approx(fresh["prob"].iloc[0]) and row["prob"] != first["prob"].iloc[0]
    assert row["sha256"] == fresh["sha256"].iloc[0] != first["sha256"].iloc[0]
    assert stats.resumed == len(kept) - 1 and stats.computed == 1
    on_disk = read_predictions(out)
    assert records[-1].path not in set(on_disk["image"]) and len(on_disk) == len(kept)


# -- 2. run folders keyed by what determines them ------------------------------------------------------------------
def test_run_folders_do_not_collide_and_a_named_mismatch_refuses(toy, image_tree, tmp_path):
    a = sets_from_real_fake_dirs(image_tree / "gen_a" / "0_real", image_tree / "gen_a" / "1_fake")
    b = sets_from_real_fake_dirs(image_tree / "gen_b" / "0_real", image_tree / "gen_b" / "1_fake")
    dir_a, res_a = _run(toy, a, tmp_path / "o", data_label="real-fake-dirs")
    dir_b, _ = _run(toy, b, tmp_path / "o", data_label="real-fake-dirs")
    assert dir_a != dir_b
    assert (json.dumps(json.loads((dir_a / "results.json").read_text())["metrics"], sort_keys=True)
            == json.dumps(res_a["metrics"], sort_keys=True))
    assert len(pd.read_csv(dir_a / "predictions.csv")) == 8
    named, _ = _run(toy, a, tmp_path / "o", name="my-run")
    assert named.name == "my-run"
    with pytest.raises(DataError, match="my-run.*other"):
        _run(toy, b, tmp_path / "o", name="my-run")
    # another identity (e.g. a UnivFD backbone) with the same name/tag/preset label gets its own folder
    other = ToyHF.load()
    other.identity = lambda: {**ToyHF.identity(other), "backbone": "another.pt"}
    dir_c, _ = _run(other, a, tmp_path / "o", data_label="real-fake-dirs")
    assert dir_c != dir_a


# -- 3. symlinked class folders ------------------------------------------------------------------------------------
def test_symlinked_class_folders_are_followed_without_loops(image_tree, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (image_tree / "gen_a" / "1_fake").rename(elsewhere)
    (image_tree / "gen_a" / "1_fake").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(image_tree, target_is_directory=True)  # a link back up the tree
    with no_hang():
        records = discover_data_dir(image_tree)
    fakes = [r for r in records if r.dataset == "gen_a" and r.label == 1]
    assert len(fakes) == 4 and len(records) == 16


def test_empty_labelled_folder_fails(image_tree):
    for f in (image_tree / "gen_b" / "1_fake").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"gen_b/1_fake.*no image"):
        discover_data_dir(image_tree)


# -- 4. overlapping --real-dir/--fake-dir -------------------------------------------------------------------------
def test_overlapping_real_and_fake_dirs_are_refused(image_tree):
    same = image_tree / "gen_a" / "0_real"
    with pytest.raises(DataError, match=r"both .*r0\.png"):
        sets_from_real_fake_dirs(same, same)
    with pytest.raises(DataError, match=r"both .*f0\.png"):
        sets_from_real_fake_dirs(image_tree / "gen_a", image_tree / "gen_a" / "1_fake")


# -- 5. several detectors ----------------------------------------------------------------------------------------
def test_each_detector_is_evaluated_and_failures_reported_at_the_end(image_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")  # cnnspot's weights cannot be fetched: it fails to load
    res = CliRunner().invoke(main, ["evaluate", "--plugin", "_toy", "--detector", "cnnspot", "--detector", "toy-hf",
                                    "--data-dir", str(image_tree), "--output", str(tmp_path / "o"), "--workers", "0",
                                    "--quiet"])
    assert res.exit_code == 1, res.output
    assert len(list((tmp_path / "o").rglob("results.json"))) == 1
    assert "toy-hf.none@native" in str(next((tmp_path / "o").rglob("results.json")))
    assert "1 of 2 detectors failed" in res.output and "cnnspot" in res.output.splitlines()[-1]


# -- 6. leaderboards ---------------------------------------------------------------------------------------------
def test_leaderboard_marks_limited_runs_and_counts_images_and_sets(toy, image_tree, tmp_path):
    from fakebench.eval.leaderboard import leaderboard_frame, load_results, write_leaderboard

    _run(toy, sets_from_data_dir(image_tree), tmp_path / "o")
    other = ToyHF.load(preset="resize32")
    _run(other, sets_from_data_dir(image_tree, limit=1)[:1], tmp_path / "o", limit=1)
    results = load_results([tmp_path / "o"])
    long = leaderboard_frame(results)
    full = long[(long["detector"] == "toy-hf.none@native") & (long["metric"] == "acc")].set_index("dataset")
    assert full.loc["gen_a", "n"] == 8 and full.loc["mean", "n_sets"] == 2 and full.loc["mean", "n"] == 16
    smoke = long[(long["detector"].str.startswith("toy-hf.none@resize32")) & (long["metric"] == "acc")]
    smoke = smoke.set_index("dataset")
    assert smoke.loc["mean", "n_sets"] == 1 and bool(smoke.loc["gen_a", "limited"])
    write_leaderboard(results, tmp_path / "board")
    md = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "n=8" in md and "2 sets" in md and "1 set" in md
    assert "--limit" in md and "*" in md


def test_leaderboard_marks_runs_from_another_manifest(toy, image_tree, tmp_path):
    from fakebench.eval.leaderboard import load_results, write_leaderboard

    _run(toy, sets_from_data_dir(image_tree), tmp_path / "o")
    _run(ToyHF.load(preset="resize32"), sets_from_data_dir(image_tree), tmp_path / "o")
    results = load_results([tmp_path / "o"])
    results[0]["data"]["manifest"] = {"paths": ["a.yaml"], "sha256": {"a.yaml": "1" * 64}}
    results[1]["data"]["manifest"] = {"paths": ["a.yaml"], "sha256": {"a.yaml": "1" * 64}}
    write_leaderboard(results, tmp_path / "same")
    assert "†" not in (tmp_path / "same" / "leaderboard.md").read_text()
    results[1]["data"]["manifest"] = {"paths": ["b.yaml"], "sha256": {"b.yaml": "2" * 64}}
    results.append({**results[0], "date": "0", "detector": {**results[0]["detector"], "name": "toy-z"}})
    write_leaderboard(results, tmp_path / "mixed")
    md = (tmp_path / "mixed" / "leaderboard.md").read_text()
    assert "†" in md and "another manifest" in md


def test_leaderboard_refuses_to_print_a_mean_over_sets_it_does_not_cover(toy, image_tree, tmp_path):
    """Two result files of one detector, on different sets: the mean covers both sets, not the last file's one."""
    from fakebench.eval.leaderboard import leaderboard_frame, load_results

    sets = sets_from_data_dir(image_tree)
    _run(toy, sets[:1], tmp_path / "o", data_label="a")
    _run(toy, sets[1:], tmp_path / "o", data_label="b")
    long = leaderboard_frame(load_results([tmp_path / "o"]))
    mean = long[(long["dataset"] == "mean") & (long["metric"] == "acc")]
    assert len(mean) == 1 and mean["n_sets"].iloc[0] == 2 and mean["n"].iloc[0] == 16


# -- 7. published numbers only for the exact weights and protocol --------------------------------------------------
def test_published_numbers_need_the_exact_weights_and_preset(image_tree, tmp_path):
    from fakebench.data.manifest import load_manifests
    from fakebench.detectors.cnnspot import CNNSpot

    manifest_path = tmp_path / "m.yaml"
    manifest_path.write_text(textwrap.dedent("""
        schema_version: 1
        suites: {toy: {title: Toy, path: testset}}
        datasets:
          - {name: toy-a, suite: toy, generator: A, family: gan, labels: mixed, layout: real_fake, path: gen_a,
             published: {cnnspot: {acc: 50.0, source: t}, "cnnspot.blur_jpg_prob0.5@crop224": {acc: 60.0, source: u}}}
    """))
    manifest = load_manifests([manifest_path])
    entries = manifest.select(["toy-a"], [])

    def published(tag, preset):
        sets = sets_from_manifest(manifest, entries, detector="cnnspot", weights_tag=tag, preset=preset,
                                  data_root=image_tree, card=CNNSpot.card)
        return sets[0].group.published.get("acc")

    assert published("blur_jpg_prob0.5", "crop224") == 60.0
    assert published("blur_jpg_prob0.1", "native") is None
    assert published("blur_jpg_prob0.1", "crop224") is None
    assert published("file", "crop224") is None


# -- 8. the cache is a faithful replay ---------------------------------------------------------------------------
def test_cached_rerun_equals_uncached_field_for_field(toy, image_tree, tmp_path):
    make_image(image_tree / "gen_a" / "0_real" / "alpha.png", "real", seed=5, mode="RGBA")  # note: alpha dropped
    (image_tree / "gen_a" / "1_fake" / "bad.png").write_text("not an image")
    sets = sets_from_data_dir(image_tree)
    first_dir, first = _run(toy, sets, tmp_path / "a", use_cache=True)
    ToyHF.calls = 0
    second_dir, second = _run(toy, sets, tmp_path / "b", use_cache=True)
    assert ToyHF.calls == 0 and second["run"]["cached"] == 17
    pd.testing.assert_frame_equal(pd.read_csv(first_dir / "predictions.csv"),
                                  pd.read_csv(second_dir / "predictions.csv"))
    assert "alpha channel dropped" in (second_dir / "predictions.csv").read_text()
    for key in ("metrics", "warnings", "unreadable", "detector"):
        assert json.dumps(first[key], sort_keys=True) == json.dumps(second[key], sort_keys=True), key


def test_code_revision_is_part_of_the_cache_key(toy, image_tree, tmp_path):
    class Fixed(ToyHF):
        revision = "2"

    records = discover_data_dir(image_tree)
    cache = PredictionCache(tmp_path / "c.sqlite")
    collect_predictions(toy, records, tmp_path / "a.csv", num_workers=0, cache=cache, progress=False)
    assert "revision" in toy.identity()
    _, stats = collect_predictions(Fixed.load(), records, tmp_path / "b.csv", num_workers=0, cache=cache,
                                   progress=False)
    assert stats.computed == 16 and stats.cached == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated", "folder"])
def test_damaged_cache_is_one_clear_error(toy, image_tree, tmp_path, damage):
    path = tmp_path / "predictions.sqlite"
    if damage == "folder":
        path.mkdir()
    else:
        good = PredictionCache(path)
        good.put_many([(f"k{i}", 0.0, 0.5, "") for i in range(2000)])
        good.close()
        data = path.read_bytes()
        path.write_bytes(b"x" * 4096 if damage == "garbage" else data[:3000])
    with pytest.raises(DataError) as info:
        cache = PredictionCache(path)
        cache.get_many([f"k{i}" for i in range(2000)])
        cache.put_many([("z", 0.0, 0.5, "")])
    message = str(info.value)
    assert str(path) in message and "--no-cache" in message and "delete" in message and "\n" not in message


# -- 9. non-finite outputs --------------------------------------------------------------------------------------
@pytest.fixture
def nan_checkpoint(tmp_path):
    from fakebench.detectors.npr import NPRNet

    net = NPRNet()
    path = tmp_path / "nan.pth"
    torch.save({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                for k, v in net.state_dict().items()}, path)
    return path


def test_non_finite_outputs_are_errors_naming_the_checkpoint(nan_checkpoint, image_tree, tmp_path):
    image = next((image_tree / "gen_a" / "0_real").glob("*.png"))
    res = CliRunner().invoke(main, ["predict", "--detector", "npr", "--weights", str(nan_checkpoint), str(image)])
    assert res.exit_code == 1 and "nan nan" not in res.output.lower()
    assert "non-finite" in res.output and "nan.pth" in res.output
    from fakebench.detectors.npr import NPR

    det = NPR.load(nan_checkpoint)
    with pytest.raises(DataError, match=r"no image could be scored.*non-finite.*nan\.pth"):
        _run(det, sets_from_data_dir(image_tree), tmp_path / "o")


# -- 10. one failing image is an error row; only regular files are read ---------------------------------------------
def test_detector_failure_on_one_image_is_an_error_row(npr_checkpoint, image_tree, tmp_path):
    from fakebench.detectors.npr import NPR

    Image.new("RGB", (1, 1), (9, 9, 9)).save(image_tree / "gen_a" / "1_fake" / "dot.png")
    Image.new("RGB", (1, 300), (9, 9, 9)).save(image_tree / "gen_a" / "1_fake" / "line.png")
    det = NPR.load(npr_checkpoint)
    records = discover_data_dir(image_tree)
    frame, stats = collect_predictions(det, records, tmp_path / "p.csv", batch_size=8, num_workers=0,
                                       progress=False)
    bad = frame[frame["error"] != ""]
    assert sorted(Path(p).name for p in bad["image"]) == ["dot.png", "line.png"]
    assert bad["error"].str.contains("dot.png|line.png").all() and bad["prob"].isna().all()
    assert frame["prob"].notna().sum() == 16 and stats.unreadable == 2


def test_fifo_socket_and_device_links_are_skipped_without_hanging(toy, image_tree, tmp_path):
    folder = image_tree / "gen_a" / "1_fake"
    os.mkfifo(folder / "pipe.png")
    (folder / "zero.png").symlink_to("/dev/zero")
    records = discover_data_dir(image_tree)
    with no_hang():
        frame, _ = collect_predictions(toy, records, tmp_path / "p.csv", num_workers=0, progress=False)
        with pytest.raises(Exception, match="not a regular file"):
            load_image(folder / "pipe.png")
    errors = frame[frame["error"] != ""].set_index(frame.loc[frame["error"] != "", "image"].map(lambda p: Path(p).name))
    assert set(errors.index) == {"pipe.png", "zero.png"}
    assert errors["error"].str.contains("not a regular file").all()


# -- 11. nothing readable --------------------------------------------------------------------------------------------
def test_every_image_unreadable_or_crop_outside_is_a_clear_error(toy, image_tree, tmp_path):
    with pytest.raises(DataError, match=r"no image could be (read|scored).*crop box"):
        _run(toy, sets_from_data_dir(image_tree, crop_box=(100, 100, 300, 300)), tmp_path / "o")
    for f in image_tree.rglob("*.png"):
        f.write_text("junk")
    with pytest.raises(DataError, match=r"no image could be (read|scored).*not an image"):
        _run(toy, sets_from_data_dir(image_tree), tmp_path / "o2")


# -- 12. any file name, atomic repair -----------------------------------------------------------------------------
def test_resume_survives_a_newline_in_a_file_name(toy, image_tree, tmp_path):
    make_image(image_tree / "gen_a" / "0_real" / "odd\nname.png", "real", seed=3)
    records = discover_data_dir(image_tree)
    out = tmp_path / "p.csv"
    ToyHF.fail_after = 1
    with pytest.raises(KeyboardInterrupt):
        collect_predictions(toy, records, out, batch_size=4, num_workers=0, progress=False)
    with open(out, "a") as handle:  # a row cut by the kill in the middle of a quoted name with a newline
        handle.write('"/cut/odd\nna')
    inode = out.stat().st_ino
    ToyHF.fail_after, ToyHF.calls = None, 0
    frame, stats = collect_predictions(toy, records, out, batch_size=4, num_workers=0, progress=False)
    assert len(frame) == 17 and frame["prob"].notna().all() and stats.resumed == 4
    assert out.stat().st_ino != inode  # repaired by an atomic replace, not rewritten in place
    assert "/cut/" not in out.read_text()
    frame2, stats2 = collect_predictions(toy, records, out, batch_size=4, num_workers=0, progress=False)
    assert stats2.resumed == 17


# -- 13. memory bounded by a pixel budget ---------------------------------------------------------------------------
def test_batches_are_bounded_by_a_pixel_budget(toy, image_tree, tmp_path):
    sizes = []
    real_predict = ToyHF.predict

    def spy(self, batch):
        sizes.append(tuple(batch.shape))
        return real_predict(self, batch)

    toy.predict = spy.__get__(toy)
    make_image(image_tree / "gen_a" / "0_real" / "big.png", "real", size=128)
    records = discover_data_dir(image_tree)
    collect_predictions(toy, records, tmp_path / "p.csv", batch_size=32, num_workers=0, progress=False,
                        max_pixels_per_batch=3 * 64 * 64)
    assert max(n * h * w for n, _, h, w in sizes) <= 128 * 128  # one big image alone may exceed the budget
    assert all(n * h * w <= 3 * 64 * 64 for n, _, h, w in sizes if h == 64)
    assert sum(n for n, *_ in sizes) == 17


# -- 14. fail fast, clear messages ---------------------------------------------------------------------------------
def test_all_missing_dataset_folders_are_listed_before_the_model_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")  # loading NPR's 'paper' weights would fail, naming NPR.pth
    manifest = tmp_path / "m.yaml"
    manifest.write_text(textwrap.dedent("""
        schema_version: 1
        suites: {toy: {title: Toy, path: testset}}
        datasets:
          - {name: toy-a, suite: toy, generator: A, family: gan, labels: mixed, layout: real_fake, path: gen_a}
          - {name: toy-b, suite: toy, generator: B, family: gan, labels: mixed, layout: real_fake, path: gen_b}
    """))
    res = CliRunner().invoke(main, ["evaluate", "--detector", "npr", "--weights", "paper", "--manifest",
                                    str(manifest), "--suite", "toy", "--data-root", str(tmp_path / "data")])
    assert res.exit_code == 1
    assert "2 dataset folder(s) missing" in res.output and "toy-a, toy-b" in res.output  # every missing set named
    assert "fakebench download --suite toy" in res.output  # one command that fetches them all
    assert "NPR.pth" not in res.output


def test_images_smaller_than_the_crop_are_warned_about_before_scoring(toy, image_tree, tmp_path, caplog):
    class Cropping(ToyHF):
        card = DetectorCard(name="toy-crop", title="t", paper="-", paper_url="", repo="", licence="MIT",
                            architecture="-", score="logit", weights=(), presets=(Preset("crop96", crop=96),),
                            default_preset="crop96")
        seen_warning = []

        def predict(self, batch):
            self.seen_warning.append(any("smaller than the 96" in r.message for r in caplog.records))
            return super().predict(batch)

    det = Cropping.load()
    caplog.set_level("WARNING")
    collect_predictions(det, discover_data_dir(image_tree), tmp_path / "p.csv", num_workers=0, progress=False)
    assert Cropping.seen_warning and all(Cropping.seen_warning)
    assert any("16 images" in r.message for r in caplog.records)


def test_files_pil_can_open_are_scored_and_skips_reported(image_tree, tmp_path):
    folder = image_tree / "gen_a" / "0_real"
    png = make_image(tmp_path / "x.png", "real", seed=4).read_bytes()
    (folder / "no_extension").write_bytes(png)
    Image.open(tmp_path / "x.png").save(folder / "photo.jp2")
    (folder / ".hidden.png").write_bytes(png)
    (folder / "readme.txt").write_text("hello")
    skipped: list = []
    found = {p.name for p in list_images(folder, skipped=skipped)}
    assert {"no_extension", "photo.jp2"} <= found and ".hidden.png" not in found and "readme.txt" not in found
    reasons = {Path(p).name: why for p, why in skipped}
    assert "hidden" in reasons[".hidden.png"] and "readme.txt" in reasons
    assert load_image(folder / "no_extension")[0].size == (64, 64)


def test_checkpoint_messages(tmp_path, npr_checkpoint):
    from fakebench.detectors.npr import NPR

    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    torch.save({"model": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="would execute code when loaded; fakebench refuses it") as info:
        NPR.load(tmp_path / "evil.pth")
    assert "weights_only=False" not in str(info.value)
    state = torch.load(npr_checkpoint, weights_only=True)
    first = next(iter(state))
    state = {f"module.{k}": v for k, v in state.items() if k != first}
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "prefixed.pth")
    with pytest.raises(CheckpointError, match=rf"1 missing: {first}.*1 unexpected: extra.weight"):
        NPR.load(tmp_path / "prefixed.pth")
    (tmp_path / "folder.pth").mkdir()
    with pytest.raises(FakebenchError, match="is a folder"):
        NPR.load(tmp_path / "folder.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        NPR.load(tmp_path / "empty.pth")
    # a file that is not a torch pickle at all: named for what it is (issue #20), never with torch's advice to
    # reload with weights_only=False
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file at all" * 3)
    with pytest.raises(CheckpointError, match="is not a torch.save checkpoint but a text file") as info:
        NPR.load(tmp_path / "garbage.pth")
    assert "weights_only` set to `False" not in str(info.value)
    # binary junk that is no known format keeps the generic message with torch's reason
    (tmp_path / "junk.pth").write_bytes(bytes(range(7, 256)) * 2)
    with pytest.raises(CheckpointError, match="corrupt, truncated, or not a checkpoint") as info:
        NPR.load(tmp_path / "junk.pth")
    assert "weights_only` set to `False" not in str(info.value)


def test_orientation_frames_and_pages_get_a_note(tmp_path):
    img = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "rotated.jpg", exif=exif)
    loaded, note = load_image(tmp_path / "rotated.jpg")
    assert loaded.size == (40, 20) and "EXIF orientation" in note
    frames = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    assert "first of 3 frames" in load_image(tmp_path / "anim.gif")[1]
    assert "first of 3 frames" in load_image(tmp_path / "pages.tif")[1]


def test_console_says_how_many_more_were_skipped(image_tree, tmp_path):
    for i in range(12):
        (image_tree / "gen_a" / "1_fake" / f"junk{i}.png").write_text("junk")
    res = CliRunner().invoke(main, ["evaluate", "--plugin", "_toy", "--detector", "toy-hf", "--data-dir",
                                    str(image_tree), "--output", str(tmp_path / "o"), "--workers", "0", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "and 2 more (see " in res.output and "results.json" in res.output


def test_result_files_get_the_normal_umask_permissions(tmp_path):
    from fakebench.core.files import atomic_write_text

    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_name_resolution_failure_is_not_retried(tmp_path, monkeypatch):
    import socket
    import time

    from fakebench.hub.fetch import FetchOptions, SourceUnavailable, fetch
    from fakebench.hub.sources import Source

    def no_dns(*_args, **_kw):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    sleeps = []
    monkeypatch.setattr(time, "sleep", lambda s: sleeps.append(s))
    with pytest.raises(SourceUnavailable, match="resolve"):
        fetch(Source("url", "http://weights.example.org/w.bin"), tmp_path,
              options=FetchOptions(retries=4, backoff=4.0, timeout=5, progress=False))
    assert sleeps == []


def test_progress_bar_names_the_test_set_and_counts_pixels(toy, image_tree, tmp_path, capsys):
    records = discover_data_dir(image_tree)
    collect_predictions(toy, records, tmp_path / "p.csv", batch_size=4, num_workers=0, progress=True)
    err = capsys.readouterr().err
    assert "gen_b" in err and "px" in err


def test_hub_name_resolution_failure_is_not_retried(tmp_path, monkeypatch):
    import socket
    import time

    from fakebench.hub.fetch import SourceUnavailable, fetch
    from fakebench.hub.sources import Source

    def no_dns(*_args, **_kw):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(time, "sleep", lambda s: pytest.fail(f"slept {s} s before a retry"))
    with pytest.raises(SourceUnavailable, match="cannot resolve the host name"):
        fetch(Source("hf", "someone/weights", filename="w.bin"), tmp_path)


@pytest.mark.parametrize("kind", ["gdrive", "gdrive_folder"])
def test_drive_name_resolution_failure_is_not_retried(tmp_path, monkeypatch, kind):
    import socket

    import gdown

    from fakebench.hub.fetch import FetchOptions, SourceUnavailable, fetch
    from fakebench.hub.sources import Source

    def no_dns(*_args, **_kw):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    calls = []
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(gdown, "download", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(gdown, "download_folder", lambda *a, **k: calls.append(a))
    with pytest.raises(SourceUnavailable, match="resolve the host name of drive.google.com"):
        fetch(Source(kind, "1AbCdEfGhIjKlMnOpQrStUvWxYz"), tmp_path, filename="w.pth",
              options=FetchOptions(retries=4, backoff=4.0, timeout=5, progress=False))
    assert calls == []  # gdown (and its own retries) never ran


def test_reading_a_finished_run_never_rewrites_its_predictions(toy, image_tree, tmp_path):
    """Only the runner, resuming into a file, repairs a cut last row; reports, comparisons and the API only read."""
    from fakebench.eval.predictions import read_predictions as read_only

    out = tmp_path / "predictions.csv"
    collect_predictions(toy, discover_data_dir(image_tree), out, num_workers=0, progress=False)
    with open(out, "a") as handle:
        handle.write("/half/written/row.png,abc")
    before = out.read_bytes()
    assert len(read_only(out)) == 16 and out.read_bytes() == before
    read_only(out, repair=True)
    assert out.read_bytes() != before and len(read_only(out)) == 16


# -- issue #20 item 7 ------------------------------------------------------------------------------------------------
def test_a_rerun_removes_temp_files_a_kill_left(toy, image_tree, tmp_path):
    """A kill between an atomic write and its rename leaves ``.results.json.<random>.tmp``; the rerun into the same
    folder removes those older than a minute (a live writer's are younger and stay)."""
    sets = sets_from_data_dir(image_tree)
    run_dir, _ = _run(toy, sets, tmp_path / "o")
    stale = [run_dir / ".results.json.abc123.tmp", run_dir / ".predictions.csv.x9.tmp"]
    fresh = run_dir / ".metrics.md.live.tmp"
    for path in stale + [fresh]:
        path.write_text("partial")
    for path in stale:
        os.utime(path, (path.stat().st_atime - 3600, path.stat().st_mtime - 3600))
    again, _ = _run(toy, sets, tmp_path / "o")
    assert again == run_dir
    assert not any(p.exists() for p in stale) and fresh.exists()


def test_a_rerun_without_some_images_is_another_run_scored_from_the_cache(image_tree, tmp_path):
    """The README's promise: removing images makes another data selection, so the rerun writes its own run folder
    (scores from the prediction cache, nothing re-computed) and the first run's folder stays as it was; a --name
    folder holding the other selection is refused with a message saying so."""
    ToyHF.calls, ToyHF.fail_after = 0, None
    toy = ToyHF.load()
    first, _ = _run(toy, sets_from_data_dir(image_tree), tmp_path / "o", use_cache=True)
    before = (first / "predictions.csv").read_text()
    os.remove(next((image_tree / "gen_a" / "1_fake").glob("*.png")))
    calls = ToyHF.calls
    second, results = _run(toy, sets_from_data_dir(image_tree), tmp_path / "o", use_cache=True)
    assert second != first and (first / "predictions.csv").read_text() == before
    assert ToyHF.calls == calls and results["run"]["cached"] == 15 and results["run"]["computed"] == 0
    _run(toy, sets_from_data_dir(image_tree), tmp_path / "n", name="mine", use_cache=True)
    os.remove(next((image_tree / "gen_b" / "1_fake").glob("*.png")))
    with pytest.raises(DataError, match="other images"):
        _run(toy, sets_from_data_dir(image_tree), tmp_path / "n", name="mine", use_cache=True)
