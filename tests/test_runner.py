"""Runner: batched scoring, incremental predictions, resume after interruption, content cache, unreadable files."""

from __future__ import annotations

import pytest
import torch

from fakebench.eval.cache import PredictionCache
from fakebench.data.images import discover_data_dir
from fakebench.eval.runner import PRED_COLUMNS, collect_predictions, read_predictions
from conftest import make_image
from _toy import ToyHF


@pytest.fixture
def toy():
    ToyHF.calls, ToyHF.fail_after = 0, None
    return ToyHF.load()


def test_scores_every_image_in_order(toy, image_tree, tmp_path):
    records = discover_data_dir(image_tree)
    frame, stats = collect_predictions(toy, records, tmp_path / "p.csv", batch_size=4, num_workers=0, progress=False)
    assert list(frame.columns) == list(PRED_COLUMNS)
    assert list(frame["image"]) == [r.path for r in records]
    assert stats.computed == 16 and stats.cached == stats.resumed == stats.unreadable == 0
    assert ((frame["prob"] > 0.5).astype(int) == frame["decision"]).all()
    # the toy detector separates the synthetic fakes (2x2 pattern) from the smooth reals
    assert (frame.loc[frame["label"] == 1, "prob"].min() > frame.loc[frame["label"] == 0, "prob"].max())
    assert len(frame["sha256"].iloc[0]) == 64


def test_resume_after_interruption(toy, image_tree, tmp_path):
    records = discover_data_dir(image_tree)
    out = tmp_path / "p.csv"
    ToyHF.fail_after = 2
    with pytest.raises(KeyboardInterrupt):
        collect_predictions(toy, records, out, batch_size=4, num_workers=0, progress=False)
    saved = read_predictions(out)
    assert len(saved) == 8  # two batches were written before the interruption
    with open(out, "a") as handle:  # and a row cut in half by the kill
        handle.write("/half/written/row.png,abc")
    ToyHF.fail_after, ToyHF.calls = None, 0
    frame, stats = collect_predictions(toy, records, out, batch_size=4, num_workers=0, progress=False)
    assert stats.resumed == 8 and stats.computed == 8 and ToyHF.calls == 2
    assert len(frame) == 16 and frame["prob"].notna().all()
    assert "/half/written" not in out.read_text()


def test_cache_means_no_model_work(toy, image_tree, tmp_path):
    records = discover_data_dir(image_tree)
    cache = PredictionCache(tmp_path / "cache.sqlite")
    first, _ = collect_predictions(toy, records, tmp_path / "a.csv", batch_size=8, num_workers=0, cache=cache,
                                   progress=False)
    ToyHF.calls = 0
    second, stats = collect_predictions(toy, records, tmp_path / "b.csv", batch_size=8, num_workers=0, cache=cache,
                                        progress=False)
    assert ToyHF.calls == 0 and stats.cached == 16 and stats.computed == 0
    assert second["prob"].tolist() == first["prob"].tolist()
    # another preset is another fingerprint: cache miss
    other = ToyHF.load(preset="resize32")
    _, stats = collect_predictions(other, records, tmp_path / "c.csv", batch_size=8, num_workers=0, cache=cache,
                                   progress=False)
    assert stats.computed == 16 and ToyHF.calls == 2


def test_unreadable_files_are_reported_and_skipped(toy, image_tree, tmp_path):
    bad_dir = image_tree / "gen_a" / "1_fake"
    (bad_dir / "not_an_image.png").write_text("hello")
    good = make_image(tmp_path / "tmp.png", "fake", seed=9).read_bytes()
    (bad_dir / "truncated.png").write_bytes(good[: len(good) // 2])
    records = discover_data_dir(image_tree)
    frame, stats = collect_predictions(toy, records, tmp_path / "p.csv", batch_size=4, num_workers=1, progress=False)
    assert stats.unreadable == 2 and stats.computed == 16
    errors = frame[frame["error"] != ""]
    assert sorted(errors["image"].map(lambda p: p.rsplit("/", 1)[1])) == ["not_an_image.png", "truncated.png"]
    assert errors["prob"].isna().all()
    assert errors["error"].str.contains("not_an_image.png: not an image").any()
    assert errors["error"].str.contains("truncated.png: cannot decode").any()


def test_predictions_of_another_detector_are_not_resumed(toy, image_tree, tmp_path):
    records = discover_data_dir(image_tree)
    out = tmp_path / "p.csv"
    collect_predictions(toy, records[:4], out, batch_size=4, num_workers=0, progress=False)
    other = ToyHF.load(preset="resize32")
    from fakebench.core.errors import DataError

    with pytest.raises(DataError, match="holds predictions of another detector"):
        collect_predictions(other, records, out, batch_size=4, num_workers=0, progress=False)


def test_default_pixel_budget_depends_on_the_device(tmp_path):
    """CPU: large images go one per forward pass (big batches are slower there); CUDA: they are batched."""
    from fakebench.eval.runner import default_max_pixels

    root = tmp_path / "big"
    for i in range(3):
        make_image(root / "0_real" / f"r{i}.png", "real", size=512, seed=i)
        make_image(root / "1_fake" / f"f{i}.png", "fake", size=512, seed=10 + i)
    for i in range(4):
        make_image(root / "0_real" / f"s{i}.png", "real", size=128, seed=20 + i)
    records = discover_data_dir(root)
    assert 4 * 128 * 128 <= default_max_pixels("cpu") < 2 * 512 * 512
    assert default_max_pixels("cuda") >= 32 * 512 * 512
    ToyHF.calls = 0
    cpu, _ = collect_predictions(ToyHF.load(), records, tmp_path / "cpu.csv", batch_size=32, num_workers=0,
                                 progress=False)
    assert ToyHF.calls == 6 + 1  # six 512 px images one at a time, the four 128 px ones together
    ToyHF.calls = 0
    # ToyHF computes on whatever device its input is on, so a CUDA detector runs here without a GPU
    gpu, _ = collect_predictions(ToyHF.load(device="cuda"), records, tmp_path / "gpu.csv", batch_size=32,
                                 num_workers=0, progress=False)
    assert ToyHF.calls == 2  # one batch per image size
    assert gpu["image"].tolist() == cpu["image"].tolist()
    assert gpu["prob"].to_numpy() == pytest.approx(cpu["prob"].to_numpy(), abs=1e-6)  # batched sums round apart


def test_npr_runs_channels_last_on_cpu_with_the_same_scores():
    """NPR's CPU forward pass uses the channels-last memory format (faster oneDNN convolutions); the logits stay
    those of the contiguous format up to float rounding, and other devices keep the contiguous format."""
    from fakebench.detectors.npr import NPR

    torch.manual_seed(0)
    detector = NPR.untrained()
    seen = []
    hook = detector.model.conv1.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    x = torch.randn(2, 3, 64, 48)
    fast = detector.predict(x).logit
    hook.remove()
    assert seen[0].is_contiguous(memory_format=torch.channels_last) and not seen[0].is_contiguous()
    with torch.inference_mode():
        plain = detector.model.to(memory_format=torch.contiguous_format)(x).reshape(-1)
    assert torch.allclose(fast, plain, atol=1e-4)
    assert detector.memory_format == torch.channels_last
    detector.device = torch.device("cuda")  # the format follows the device (no GPU needed to ask)
    assert detector.memory_format == torch.contiguous_format


def test_an_image_too_large_for_the_device_is_refused_before_the_forward_pass(tmp_path, monkeypatch):
    """Issue #20 item 5: with 40 MB free (32 MB usable at 320 B/px = 100,000 px), each 512x512 image (262,144 px)
    gets an error row naming it, its size and --preset, without a forward pass; the 128 px images are scored; the
    pixel budget (2**17 on the CPU, or a huge --max-pixels-per-batch) is capped at 100,000 with a note."""
    from fakebench.eval import memory

    monkeypatch.setattr(memory, "available_bytes", lambda device: 40_000_000)
    root = tmp_path / "big"
    for i in range(2):
        make_image(root / "1_fake" / f"f{i}.png", "fake", size=512, seed=10 + i)
    for i in range(8):
        make_image(root / "0_real" / f"s{i}.png", "real", size=128, seed=20 + i)
    records = discover_data_dir(root)
    ToyHF.calls = 0
    frame, stats = collect_predictions(ToyHF.load(), records, tmp_path / "p.csv", batch_size=32, num_workers=0,
                                       progress=False, max_pixels_per_batch=10**12)
    big = frame[frame["image"].str.contains("/f")]
    assert big["prob"].isna().all() and len(big) == 2
    for path, error in zip(big["image"], big["error"]):
        assert error.startswith(f"{path}: its 512x512 input (0.3 MP) needs about 0.1 GB") and "--preset" in error
    small = frame[frame["image"].str.contains("/s")]
    assert small["prob"].notna().all() and (small["error"].fillna("") == "").all()
    assert stats.unreadable == 2 and stats.computed == 8
    assert ToyHF.calls == 2  # 8 x 16,384 px under the capped budget of 100,000: batches of 6 and 2
    (note,) = [n for n in stats.notes if "capped" in n]
    assert "1,000,000,000,000" in note and "capped at 100,000 pixels" in note


def test_fit_budget_keeps_a_budget_that_fits():
    from fakebench.eval.memory import DEFAULT_BYTES_PER_PIXEL, fit_budget

    det = ToyHF.load()
    assert fit_budget(1 << 17, det, free=10 * (1 << 17) * DEFAULT_BYTES_PER_PIXEL) == (1 << 17, "")
    budget, note = fit_budget(1 << 17, det, free=(1 << 16) * DEFAULT_BYTES_PER_PIXEL)
    assert budget == int(0.8 * (1 << 16)) and "capped" in note
def test_plan_batches_sorts_native_sizes_and_respects_count_and_pixel_budget(tmp_path):
    """The runner's plan (shared with the benchmark's forward-only ceiling): equal sizes together, at most
    ``batch_size`` images and ``budget`` pixels per batch, an image over the budget alone."""
    from conftest import make_image
    from fakebench.data.images import ImageRecord
    from fakebench.detectors.card import Preset
    from fakebench.eval.runner import plan_batches

    sizes = [64, 32, 64, 32, 32, 128, 32]
    records = [ImageRecord(str(make_image(tmp_path / f"{i}.png", "real", size=s, seed=i)), 0, "s", "g")
               for i, s in enumerate(sizes)]
    plan = plan_batches(records, Preset("native"), batch_size=3, budget=64 * 64 * 2)
    assert [plan.sizes[r.path][0] for r in plan.records] == sorted(sizes)
    assert plan.batches == [[0, 1, 2], [3, 4], [5], [6]]  # 4x32^2 would fit, but 3 images at most; 128^2 alone
    assert all(sum(plan.pixels[i] for i in b) <= 64 * 64 * 2 or len(b) == 1 for b in plan.batches)
    fixed = plan_batches(records, Preset("crop", crop=16), batch_size=4, budget=10 ** 9)
    assert fixed.records == records and fixed.batches == [[0, 1, 2, 3], [4, 5, 6]]  # fixed size: file order
