"""Distributed evaluation: images sharded by content sha256, one predictions file per rank, rank 0 merges and scores;
the merged predictions.csv and metrics equal a single-process run. The torchrun test launches 2 CPU processes
(gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

import _toy
from conftest import make_image
from fakebench.core.files import sha256_file
from fakebench.eval import distributed
from fakebench.eval.harness import run_evaluation, sets_from_data_dir
from fakebench.eval.runner import collect_predictions


@pytest.fixture
def tree(tmp_path) -> Path:
    """Two generators x (5 real + 5 fake), 32x32, plus one unreadable file."""
    root = tmp_path / "data"
    for g, gen in enumerate(("gen_a", "gen_b")):
        for i in range(5):
            make_image(root / gen / "0_real" / f"r{i}.png", "real", size=32, seed=100 * g + i)
            make_image(root / gen / "1_fake" / f"f{i}.png", "fake", size=32, seed=100 * g + 50 + i)
    (root / "gen_b" / "1_fake" / "broken.png").write_bytes(b"not a png")
    return root


def _metrics(run_dir: Path) -> str:
    return json.dumps(json.loads((run_dir / "results.json").read_text())["metrics"], sort_keys=True)


def test_shards_are_disjoint_complete_and_follow_the_content_hash(tree):
    records = [r for s in sets_from_data_dir(tree) for r in s.records]
    shards = [distributed.shard_records(records, 3, k) for k in range(3)]
    paths = [[r.path for r in shard] for shard in shards]
    assert sorted(p for part in paths for p in part) == sorted(r.path for r in records)
    assert all(part for part in paths)  # 21 images over 3 ranks: none empty here
    for k, part in enumerate(paths):
        assert part == [r.path for r in records if r.path in set(part)]  # record order kept
        assert all(int(sha256_file(p)[:8], 16) % 3 == k for p in part)
    # a copy of an image under another name goes to the same rank (content, not path)
    copy = tree / "gen_a" / "0_real" / "copy.png"
    copy.write_bytes(Path(records[0].path).read_bytes())
    assert distributed.shard_of(sha256_file(copy), 3) == distributed.shard_of(sha256_file(records[0].path), 3)
    assert distributed.shard_records(records, 1, 0) == records


def test_merged_shards_equal_a_single_process_run(tree, tmp_path):
    sets = sets_from_data_dir(tree)
    records = [r for s in sets for r in s.records]
    det = _toy.ToyHF.load(None)
    single_dir, _ = run_evaluation(det, sets, output=tmp_path / "single", data_label="data", batch_size=4,
                                   num_workers=0, use_cache=False, progress=False)

    run_dir = distributed.claim_run_folder(det, sets, tmp_path / "dist", "data")
    for k in range(2):  # what each rank does
        shard = distributed.shard_records(records, 2, k)
        collect_predictions(det, shard, run_dir / f"predictions.rank{k}.csv", batch_size=3, num_workers=0,
                            progress=False)
    distributed.merge_shards(run_dir, records, 2)
    calls = _toy.ToyHF.calls
    written, results = run_evaluation(det, sets, output=tmp_path / "dist", data_label="data", batch_size=4,
                                      num_workers=0, use_cache=False, progress=False)
    assert written == run_dir
    assert _toy.ToyHF.calls == calls  # rank 0's evaluation did no model work
    assert results["run"]["computed"] == 0
    single = (single_dir / "predictions.csv").read_bytes()
    assert b"broken.png" in single and single.count(b"\n") == 22
    assert (run_dir / "predictions.csv").read_bytes() == single  # byte for byte, unreadable row included
    assert _metrics(run_dir) == _metrics(single_dir)


def test_merge_refuses_missing_shards(tree, tmp_path):
    det = _toy.ToyHF.load(None)
    sets = sets_from_data_dir(tree)
    records = [r for s in sets for r in s.records]
    run_dir = distributed.run_dir_for(det, sets, tmp_path, "data")
    collect_predictions(det, distributed.shard_records(records, 2, 0), run_dir / "predictions.rank0.csv",
                        num_workers=0, progress=False)
    with pytest.raises(distributed.DistributedError, match="predictions.rank1.csv is missing"):
        distributed.merge_shards(run_dir, records, 2)


def test_rank_device(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.rank_device("cuda") == "cuda:1" and distributed.rank_device("cuda:0") == "cuda:0"
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(Exception, match="WORLD_SIZE"):
        distributed.world_size()


def _torchrun_config(tree: Path, tmp_path: Path) -> tuple[dict, Path]:
    """A one-pair matrix config (toy detector on ``tree``, written to ``dist.yaml``) and a launch script that runs
    ``fakebench run`` on it in every process torchrun starts."""
    config = {"output": str(tmp_path / "dist"), "batch_size": 3, "workers": 0, "plugins": ["_toy"],
              "detectors": [{"name": "toy-hf"}], "data": [{"data_dir": str(tree), "label": "data"}]}
    (tmp_path / "dist.yaml").write_text(yaml.safe_dump(config))
    script = tmp_path / "launch.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from fakebench.cli.run import run\n"
        f"run.main([{str(tmp_path / 'dist.yaml')!r}, '--quiet'], standalone_mode=False)\n")
    return config, script


def _equal_to_a_single_process_run(config: dict, tmp_path: Path) -> Path:
    """Run ``config`` in this process without the cache (every image really scored) and check that the distributed
    run folder holds the same predictions.csv bytes and metrics; returns the distributed run folder."""
    from fakebench.eval.matrix import run_matrix

    single = run_matrix({**config, "output": str(tmp_path / "single"), "cache": False}, progress=False)
    assert single.ok
    single_dir = single.pairs[0].run_dir
    dist_dir = next((tmp_path / "dist" / "toy-hf.none@native").glob("data*"))
    assert dist_dir.name == single_dir.name  # same detector and selection: same run key
    assert (dist_dir / "predictions.csv").read_bytes() == (single_dir / "predictions.csv").read_bytes()
    assert _metrics(dist_dir) == _metrics(single_dir)
    return dist_dir


@pytest.mark.slow
def test_torchrun_two_processes_match_a_single_process_run(tree, tmp_path):
    config, script = _torchrun_config(tree, tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script)], check=False, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("1 ran of 1 pairs") == 1  # only rank 0 reports
    assert "(20 scored," in proc.stdout  # the images the ranks scored, not rank 0's final pass (0)

    dist_dir = _equal_to_a_single_process_run(config, tmp_path)
    shards = [{line.split(",")[0] for line in (dist_dir / f"predictions.rank{k}.csv").read_text().splitlines()[1:]}
              for k in range(2)]
    assert shards[0] and shards[1] and not shards[0] & shards[1]
    assert len(shards[0] | shards[1]) == 21
    ranks = json.loads((dist_dir / "results.json").read_text())["distributed"]
    assert ranks["world_size"] == 2 and [r["rank"] for r in ranks["ranks"]] == [0, 1]
    assert sorted(r["shard_images"] for r in ranks["ranks"]) == sorted(len(s) for s in shards)
    assert all(r["cost"]["wall_seconds"] > 0 and r["cost"]["device"] == "cpu" for r in ranks["ranks"])
    run = json.loads((dist_dir / "results.json").read_text())["run"]
    assert (run["total"], run["computed"], run["cached"], run["resumed"], run["unreadable"]) == (21, 20, 0, 0, 1)
    assert run["computed"] == sum(r["computed"] for r in ranks["ranks"])
    # issue #20 item 8: the run's cost counts the ranks' images and time, not rank 0's merge step (0 images)
    cost = json.loads((dist_dir / "results.json").read_text())["cost"]
    scored = sum(r["computed"] for r in ranks["ranks"])
    assert scored == 20 and cost["images"] == scored and cost["processes"] == 2  # the tree's unreadable file: 21 - 1
    assert cost["wall_seconds"] >= max(r["cost"]["wall_seconds"] for r in ranks["ranks"])
    assert cost["images_per_second"] == pytest.approx(scored / cost["wall_seconds"], rel=1e-3)


@pytest.mark.slow
def test_two_torchrun_nodes_on_localhost_match_a_single_process_run(tree, tmp_path):
    """Multi-node torchrun as docs/scale.md runs it under Slurm: two agents (the two "nodes", one process each) meet
    at one c10d rendezvous; the merged predictions equal a single-process run's and the summary counts both ranks."""
    import socket

    config, script = _torchrun_config(tree, tmp_path)
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    agent = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
             "--rdzv_id", f"fakebench-test-{port}", "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}",
             str(script)]
    nodes = [subprocess.Popen(agent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outputs = [node.communicate(timeout=600) for node in nodes]
    for node, (out, err) in zip(nodes, outputs):
        assert node.returncode == 0, out[-3000:] + err[-3000:]
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count("1 ran of 1 pairs") == 1 and "(20 scored," in stdout  # rank 0 reports both ranks' images

    dist_dir = _equal_to_a_single_process_run(config, tmp_path)
    ranks = json.loads((dist_dir / "results.json").read_text())["distributed"]
    assert ranks["world_size"] == 2 and sum(r["computed"] for r in ranks["ranks"]) == 20
    assert all(r["computed"] > 0 for r in ranks["ranks"])  # both nodes scored their shard


def test_combined_counts_add_up_to_the_total():
    ranks = [{"computed": 6, "cached": 2, "resumed": 1, "unreadable": 1},
             {"computed": 7, "cached": 0, "resumed": 3, "unreadable": 1}]
    final = {"total": 21, "resumed": 19, "cached": 0, "computed": 1, "unreadable": 1, "seconds": 0.5}
    run = distributed.combined_counts(final, ranks)
    assert (run["computed"], run["cached"], run["resumed"], run["unreadable"]) == (14, 2, 4, 1)
    assert run["computed"] + run["cached"] + run["resumed"] + run["unreadable"] == run["total"] == 21
    assert run["merged"] == final and run["seconds"] == 0.5


def test_combined_cost_of_ranks():
    from fakebench.eval.cost import COST_KEYS, combine_rank_costs

    def one(images, wall, rss, device="cuda:0"):
        return {**dict.fromkeys(COST_KEYS), "device": device, "device_name": "H100", "images": images,
                "wall_seconds": wall, "user_cpu_seconds": 1.0, "peak_rss_mb": rss, "torch_threads": 4}

    merge = {**one(0, 0.5, 900.0), "images": 0}
    cost = combine_rank_costs([one(100, 10.0, 800.0), one(60, 8.0, 700.0, "cuda:1")], merge)
    assert cost["images"] == 160 and cost["wall_seconds"] == 10.5 and cost["images_per_second"] == round(160 / 10.5, 3)
    assert cost["device"] == "cuda:0, cuda:1" and cost["device_name"] == "H100" and cost["processes"] == 2
    assert cost["peak_rss_mb"] == 900.0 and cost["user_cpu_seconds"] == 3.0 and cost["peak_gpu_memory_mb"] is None
    assert set(COST_KEYS) <= set(cost)
