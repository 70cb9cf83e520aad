"""Ordered, bounded thread prefetching of batches (fakebench.eval.prefetch) and the runner's use of it."""

from __future__ import annotations

import threading
import time

import pytest

from fakebench.eval.prefetch import prefetch


def test_results_in_input_order_whatever_finishes_first():
    def load(x):
        time.sleep(0.02 if x % 2 == 0 else 0.0)  # even items finish last
        return x * 10

    assert list(prefetch(load, range(9), workers=3, depth=2)) == [x * 10 for x in range(9)]


def test_workers_zero_loads_inline_in_the_calling_thread():
    seen = []
    out = list(prefetch(lambda x: seen.append(threading.current_thread()) or x, [1, 2], workers=0))
    assert out == [1, 2] and set(seen) == {threading.current_thread()}


def test_lookahead_is_bounded():
    started = []
    gen = prefetch(lambda x: started.append(x) or x, range(100), workers=2, depth=3)
    assert next(gen) == 0
    time.sleep(0.05)
    assert len(started) <= 2 * 3 + 1  # the first batch, then at most workers x depth ahead
    gen.close()


def test_an_error_in_a_load_reaches_the_consumer_at_its_place():
    def load(x):
        if x == 3:
            raise ValueError("bad batch 3")
        return x

    gen = prefetch(load, range(6), workers=2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="bad batch 3"):
        next(gen)


def test_closing_early_stops_loading_the_rest():
    started = []

    def load(x):
        started.append(x)
        time.sleep(0.01)
        return x

    gen = prefetch(load, range(1000), workers=2, depth=2)
    assert next(gen) == 0
    gen.close()
    count = len(started)
    time.sleep(0.05)
    assert len(started) == count < 20


@pytest.mark.parametrize("workers", [-1])
def test_negative_workers_refused(workers):
    with pytest.raises(ValueError, match="workers"):
        list(prefetch(lambda x: x, [1], workers=workers))


def test_runner_decodes_preset_images_in_threads_with_the_same_rows(image_tree, tmp_path, monkeypatch):
    """The preset path decodes in threads (no worker process), and 0 or 2 workers give the same rows, unreadable
    files included."""
    import multiprocessing

    from fakebench.data import images
    from fakebench.data.images import discover_data_dir
    from fakebench.eval.runner import collect_predictions
    from _toy import ToyHF

    (image_tree / "gen_a" / "1_fake" / "not_an_image.png").write_text("hello")
    records = discover_data_dir(image_tree)
    threads = set()
    original = images.load_image

    def spy(*args, **kwargs):
        threads.add(threading.current_thread().name.split("_")[0])
        assert not multiprocessing.parent_process()  # never inside a worker process
        return original(*args, **kwargs)

    monkeypatch.setattr(images, "load_image", spy)
    inline, _ = collect_predictions(ToyHF.load(), records, tmp_path / "a.csv", batch_size=4, num_workers=0,
                                    progress=False)
    assert threads == {"MainThread"}
    threads.clear()
    threaded, stats = collect_predictions(ToyHF.load(), records, tmp_path / "b.csv", batch_size=4, num_workers=2,
                                          progress=False)
    assert threads == {"fakebench-decode"} and not multiprocessing.active_children()
    assert stats.computed == 16 and stats.unreadable == 1
    assert threaded.equals(inline)
