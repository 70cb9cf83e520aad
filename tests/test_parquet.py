"""Parquet test sets (the Hugging Face hub's layout) read in place: discovery, bytes, the image ids, and
``fakebench evaluate`` on a shard collection equal to the same images as a folder, per image -- including resume after
an interruption, torchrun-style sharding, ``--limit``, the bias audit and the HTML report."""

from __future__ import annotations

import hashlib
import json
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

import _toy
from cli import main
from conftest import make_image
from fakebench.core.errors import DataError, ManifestError
from fakebench.data.items import content_sha256, member_id, parse_member, read_bytes
from fakebench.data.manifest import load_manifest
from fakebench.eval import distributed
from fakebench.eval.harness import run_evaluation, sets_from_manifest

GENERATORS = ("gen_a", "gen_b")


@pytest.fixture
def twin(tmp_path):
    """The same 20 images twice: as a folder (``folder/<gen>/{0_real,1_fake}``) and as 2 parquet shards in the hub
    layout (``hub/data/test-0000k-of-00002.parquet``, hub ``Image`` struct column, 3 rows per row group), plus a
    manifest with both, and one row whose label is neither real nor fake."""
    rows = []
    for g, gen in enumerate(GENERATORS):
        for i in range(5):
            for kind, folder in (("real", "0_real"), ("fake", "1_fake")):
                path = make_image(tmp_path / "data" / "folder" / gen / folder / f"{kind[0]}{i}.png", kind, size=32,
                                  seed=100 * g + 10 * i + (kind == "fake"))
                rows.append({"image": {"bytes": path.read_bytes(), "path": path.name},
                             "label": "real" if kind == "real" else "fake", "generator": gen})
    rows.append({"image": {"bytes": rows[0]["image"]["bytes"], "path": "odd.png"}, "label": "unsure",
                 "generator": "gen_a"})
    hub = tmp_path / "data" / "hub" / "data"
    hub.mkdir(parents=True)
    half = len(rows) // 2
    for k, part in enumerate((rows[:half], rows[half:])):
        pq.write_table(pa.Table.from_pylist(part), hub / f"test-{k:05d}-of-00002.parquet", row_group_size=3)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(textwrap.dedent("""
        schema_version: 1
        suites:
          folders: {title: folders, path: folder}
          hub: {title: hub, path: hub}
        datasets:
        """) + "".join(textwrap.indent(textwrap.dedent(f"""
        - {{name: f-{gen}, suite: folders, generator: {gen}, family: gan, labels: mixed, layout: real_fake,
           path: folder/{gen}}}
        - {{name: h-{gen}, suite: hub, generator: {gen}, family: gan, labels: mixed, layout: parquet, path: hub,
           parquet: {{files: "data/test-*.parquet", image: image, label: label, generator: generator,
                     where: {{generator: {gen}}}}}}}
        """), "  ") for gen in GENERATORS))
    return tmp_path / "data", manifest


def test_member_ids_round_trip_and_read_the_cell(twin):
    root, manifest = twin
    shard = root / "hub" / "data" / "test-00000-of-00002.parquet"
    ident = member_id(shard, "image", 4)
    assert parse_member(ident) == (str(shard), "image", 4) and parse_member(str(shard)) is None
    cell = pq.read_table(shard).column("image").to_pylist()[4]["bytes"]
    assert read_bytes(ident) == cell and content_sha256(ident) == hashlib.sha256(cell).hexdigest()
    with pytest.raises(OSError, match="outside the shard"):
        read_bytes(member_id(shard, "image", 999))


def test_discovery_filters_labels_and_skips_unknown_labels(twin):
    root, manifest = twin
    m = load_manifest(manifest)
    skipped: list = []
    from fakebench.data.images import records_for_entry

    records = records_for_entry(m.get("h-gen_a"), root, skipped=skipped)
    assert len(records) == 10 and sorted(r.label for r in records) == [0] * 5 + [1] * 5
    assert {r.generator for r in records} == {"gen_a"} and all(parse_member(r.path) for r in records)
    assert len(skipped) == 1 and "'unsure'" in skipped[0][1] and "neither real" in skipped[0][1]


def test_wrong_column_names_and_bad_specs_are_refused(twin, tmp_path):
    root, manifest = twin
    from fakebench.data.images import records_for_entry

    bad = tmp_path / "bad.yaml"
    bad.write_text(manifest.read_text().replace("image: image,", "image: img,", 1))
    with pytest.raises(DataError, match=r"no column 'img'; its columns are image, label, generator"):
        records_for_entry(load_manifest(bad).get("h-gen_a"), root)
    bad.write_text(manifest.read_text().replace("label: label, ", "", 1))
    with pytest.raises(ManifestError, match="parquet.label"):
        load_manifest(bad)
    bad.write_text(manifest.read_text().replace("layout: real_fake,", "layout: real_fake, parquet: {image: x},", 1))
    with pytest.raises(ManifestError, match="only allowed with layout: parquet"):
        load_manifest(bad)


def _predictions(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(run_dir / "predictions.csv")
    return frame.set_index("sha256")[["label", "prob", "logit", "dataset"]].sort_index()


def _evaluate(*args):
    return CliRunner().invoke(main, [str(a) for a in ("evaluate", "--plugin", "_toy", "--detector", "toy-hf",
                                                      "--workers", "0", "--quiet", "--n-boot", "0", *args)],
                              catch_exceptions=False)


def test_parquet_run_equals_the_folder_run_per_image(twin, tmp_path):
    root, manifest = twin
    for suite in ("folders", "hub"):
        res = _evaluate("--manifest", manifest, "--suite", suite, "--data-root", root, "--output",
                        tmp_path / suite, "--no-cache")
        assert res.exit_code == 0, res.output
    folder_dir = next((tmp_path / "folders" / "toy-hf.none@native").iterdir())
    hub_dir = next((tmp_path / "hub" / "toy-hf.none@native").iterdir())
    a, b = _predictions(folder_dir), _predictions(hub_dir)
    assert len(a) == len(b) == 20
    pd.testing.assert_series_equal(a["prob"], b["prob"])
    pd.testing.assert_series_equal(a["label"], b["label"])
    assert list(b["dataset"].str[2:]) == list(a["dataset"].str[2:])
    hub_ids = pd.read_csv(hub_dir / "predictions.csv")["image"]
    assert hub_ids.str.contains(r"\.parquet#image=\d+$").all()
    results = json.loads((hub_dir / "results.json").read_text())
    folder_results = json.loads((folder_dir / "results.json").read_text())
    for ours, theirs in zip(results["metrics"]["per_dataset"], folder_results["metrics"]["per_dataset"]):
        assert {k: ours[k] for k in ("acc", "ap", "auc", "n_real", "n_fake")} == \
            {k: theirs[k] for k in ("acc", "ap", "auc", "n_real", "n_fake")}
    assert results["data"]["datasets"][0]["parquet"]["image"] == "image"
    assert any("neither real" in s["reason"] for s in results["skipped"])
    # the cache is keyed by content: the folder run fills it, the parquet run is served from it
    _evaluate("--manifest", manifest, "--suite", "folders", "--data-root", root, "--output", tmp_path / "c1")
    res = _evaluate("--manifest", manifest, "--suite", "hub", "--data-root", root, "--output", tmp_path / "c2")
    assert "0 scored, 20 from cache" in res.output, res.output


def test_limit_takes_the_first_rows_per_label(twin, tmp_path):
    root, manifest = twin
    res = _evaluate("--manifest", manifest, "--dataset", "h-gen_b", "--data-root", root, "--output", tmp_path / "o",
                    "--limit", "2")
    assert res.exit_code == 0, res.output
    preds = pd.read_csv(next((tmp_path / "o" / "toy-hf.none@native").iterdir()) / "predictions.csv")
    assert sorted(preds["label"]) == [0, 0, 1, 1]


def test_resume_after_an_interruption(twin, tmp_path, monkeypatch):
    root, manifest = twin
    m = load_manifest(manifest)
    sets = sets_from_manifest(m, m.select(suites=["hub"]), detector="toy-hf", weights_tag=None, preset="native",
                              data_root=root)
    det = _toy.ToyHF.load(None)
    monkeypatch.setattr(_toy.ToyHF, "calls", 0)
    monkeypatch.setattr(_toy.ToyHF, "fail_after", 2)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(det, sets, output=tmp_path / "r", data_label="hub", batch_size=3, num_workers=0,
                       use_cache=False, progress=False, n_boot=0)
    run_dir = next((tmp_path / "r" / "toy-hf.none@native").iterdir())
    assert len(pd.read_csv(run_dir / "predictions.csv")) == 6  # two batches of 3 were written before the kill
    monkeypatch.setattr(_toy.ToyHF, "fail_after", None)
    _, results = run_evaluation(det, sets, output=tmp_path / "r", data_label="hub", batch_size=3, num_workers=0,
                                use_cache=False, progress=False, n_boot=0)
    assert results["run"]["resumed"] == 6 and results["run"]["computed"] == 14
    single, _ = run_evaluation(det, sets, output=tmp_path / "s", data_label="hub", batch_size=3, num_workers=0,
                               use_cache=False, progress=False, n_boot=0)
    pd.testing.assert_frame_equal(_predictions(run_dir), _predictions(single))


def test_sharded_ranks_merge_to_the_single_process_run(twin, tmp_path):
    from fakebench.eval.runner import collect_predictions

    root, manifest = twin
    m = load_manifest(manifest)
    sets = sets_from_manifest(m, m.select(suites=["hub"]), detector="toy-hf", weights_tag=None, preset="native",
                              data_root=root)
    records = [r for s in sets for r in s.records]
    det = _toy.ToyHF.load(None)
    single_dir, _ = run_evaluation(det, sets, output=tmp_path / "single", data_label="hub", batch_size=4,
                                   num_workers=0, use_cache=False, progress=False, n_boot=0)
    shards = [distributed.shard_records(records, 2, k) for k in range(2)]
    assert shards[0] and shards[1] and len(shards[0]) + len(shards[1]) == 20
    for k, shard in enumerate(shards):  # rows go to the rank their content hash names, as files do
        assert all(distributed.shard_of(content_sha256(r.path), 2) == k for r in shard)
    run_dir = distributed.claim_run_folder(det, sets, tmp_path / "dist", "hub")
    for k in range(2):
        collect_predictions(det, shards[k], run_dir / f"predictions.rank{k}.csv", batch_size=3, num_workers=0,
                            progress=False)
    distributed.merge_shards(run_dir, records, 2)
    _, results = run_evaluation(det, sets, output=tmp_path / "dist", data_label="hub", batch_size=4, num_workers=0,
                                use_cache=False, progress=False, n_boot=0)
    assert results["run"]["computed"] == 0
    assert (run_dir / "predictions.csv").read_bytes() == (single_dir / "predictions.csv").read_bytes()


def test_bias_audit_and_report_read_parquet_rows(twin, tmp_path):
    from fakebench.analysis.bias import metadata_table
    from fakebench.report.build import thumbnail

    root, manifest = twin
    m = load_manifest(manifest)
    sets = sets_from_manifest(m, m.select(suites=["hub", "folders"]), detector="toy-hf", weights_tag=None,
                              preset="native", data_root=root)
    table = metadata_table([r for s in sets for r in s.records])
    assert (table["error"] == "").all() and (table["format"] == "PNG").all()
    by_set = table.groupby(table["dataset"].str[2:])
    for _, group in by_set:  # the same bytes give the same metadata in both layouts
        assert group.groupby("sha256")["file_size"].nunique().max() == 1
    hub_record = next(r for s in sets for r in s.records if parse_member(r.path))
    jpeg, size = thumbnail(hub_record.path)
    assert jpeg[:2] == b"\xff\xd8" and size == (32, 32)


@pytest.mark.slow
def test_torchrun_two_processes_on_parquet_match_one_process(twin, tmp_path):
    import os
    import subprocess

    import yaml

    from fakebench.eval.matrix import run_matrix

    root, manifest = twin
    config = {"output": str(tmp_path / "dist"), "batch_size": 3, "workers": 0, "plugins": ["_toy"],
              "detectors": [{"name": "toy-hf"}],
              "data": [{"suites": ["hub"], "manifest": str(manifest), "data_root": str(root), "label": "hub"}]}
    (tmp_path / "dist.yaml").write_text(yaml.safe_dump(config))
    script = tmp_path / "launch.py"
    script.write_text("import sys\n"
                      f"sys.path.insert(0, {str(TESTS)!r})\n"
                      "from fakebench.cli.run import run\n"
                      f"run.main([{str(tmp_path / 'dist.yaml')!r}, '--quiet'], standalone_mode=False)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script)], check=False, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    single = run_matrix({**config, "output": str(tmp_path / "single"), "cache": False}, progress=False)
    assert single.ok
    single_dir = single.pairs[0].run_dir
    dist_dir = next((tmp_path / "dist" / "toy-hf.none@native").glob("hub*"))
    assert (dist_dir / "predictions.csv").read_bytes() == (single_dir / "predictions.csv").read_bytes()
    shards = [{line.split(",")[0] for line in (dist_dir / f"predictions.rank{k}.csv").read_text().splitlines()[1:]}
              for k in range(2)]
    assert shards[0] and shards[1] and not shards[0] & shards[1] and len(shards[0] | shards[1]) == 20
    assert all(".parquet#image=" in image for image in shards[0] | shards[1])


def test_a_bad_cell_is_one_error_row_never_the_end_of_the_run(tmp_path):
    from fakebench.data.images import UnreadableImage, load_image

    good = [make_image(tmp_path / "src" / f"{k}.png", kind, size=16, seed=k).read_bytes()
            for k, kind in enumerate(["real", "fake", "real", "fake"])]
    rows = [{"img": data, "y": k % 2} for k, data in enumerate(good)] + [{"img": b"not an image", "y": 1},
                                                                         {"img": None, "y": 0}]
    (tmp_path / "d" / "pq").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d" / "pq" / "x.parquet")
    shard = tmp_path / "d" / "pq" / "x.parquet"
    with pytest.raises(UnreadableImage, match=r"x\.parquet#img=4: not an image"):
        load_image(member_id(shard, "img", 4))
    with pytest.raises(UnreadableImage, match=r"x\.parquet#img=5: cannot read the parquet row .*null"):
        load_image(member_id(shard, "img", 5))
    manifest = tmp_path / "m.yaml"
    manifest.write_text("""
schema_version: 1
suites: {p: {title: p, path: pq}}
datasets:
  - {name: p-x, suite: p, generator: g, family: gan, labels: mixed, layout: parquet, path: pq,
     parquet: {image: img, label: y}}
""")
    m = load_manifest(manifest)
    sets = sets_from_manifest(m, m.select(suites=["p"]), detector="toy-hf", weights_tag=None, preset="native",
                              data_root=tmp_path / "d")
    _, results = run_evaluation(_toy.ToyHF.load(None), sets, output=tmp_path / "o", data_label="p", num_workers=0,
                                use_cache=False, progress=False, n_boot=0)
    assert results["metrics"]["per_dataset"][0]["n_real"] == 2 and results["metrics"]["per_dataset"][0]["n_fake"] == 2
    assert sorted(u["image"].rsplit("=", 1)[1] for u in results["unreadable"]) == ["4", "5"]


def test_locality_key_sorts_files_and_rows_together_without_type_errors(twin):
    from fakebench.data.items import LOCALITY_ROWS, locality_key

    root, _ = twin
    shard = root / "hub" / "data" / "test-00000-of-00002.parquet"
    ids = [member_id(shard, "image", LOCALITY_ROWS + 1), str(root / "folder" / "gen_a" / "0_real" / "r0.png"),
           member_id(shard, "image", 3)]
    sizes = {ids[0]: (32, 32), ids[1]: (64, 64), ids[2]: (64, 64)}
    ordered = sorted(ids, key=lambda i: (locality_key(i), sizes[i]))
    assert ordered == [ids[1], ids[2], ids[0]]  # files first; rows by shard region, then size
