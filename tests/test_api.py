"""The Python API: ``import fakebench`` entry points, the results schema, and the evaluate round trip."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import fakebench
from conftest import REPO
from fakebench.core.errors import DataError
from fakebench.eval.results import (RESULTS_SCHEMA, ResultsRecord, SchemaError, parse_schema, read_results,
                                    run_label)


def test_import_fakebench_is_light_and_lists_entry_points():
    code = ("import sys, fakebench; assert callable(fakebench.list_detectors); "
            "assert 'torch' not in sys.modules, 'import fakebench pulled in torch'; print(fakebench.__version__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO.parent, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == fakebench.__version__
    assert {"load_detector", "evaluate", "list_detectors", "list_datasets"} <= set(dir(fakebench))


def test_list_functions():
    assert {"npr", "cnnspot", "univfd", "antifakeprompt", "instructblip"} <= set(fakebench.list_detectors())
    names = fakebench.list_datasets()
    assert "gangen-began" in names and len([n for n in names if n.startswith("afp-")]) == 23
    assert "shared-gangen-began" in fakebench.list_datasets("shared-samples")


def test_load_detector_passes_options_and_rejects_unknown_ones(npr_checkpoint):
    det = fakebench.load_detector("npr", npr_checkpoint, preset="native")
    assert det.name == "npr" and det.preset.name == "native" and det.weights.tag == "file"
    with pytest.raises(TypeError, match="does not take the option.*bogus"):
        fakebench.load_detector("npr", npr_checkpoint, bogus=1)


def test_univfd_backbone_option_reaches_load(tmp_path):
    # UnivFD.load takes backbone=...; the API must pass it (it raised TypeError before) and fail on the file itself.
    from fakebench.core.errors import FakebenchError

    with pytest.raises(FakebenchError) as info:
        fakebench.load_detector("univfd", tmp_path / "missing_head.pth", backbone=tmp_path / "missing_clip.pt")
    assert not isinstance(info.value, TypeError)


def test_evaluate_in_memory_writes_nothing(image_tree, npr_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    res = fakebench.evaluate("npr", image_tree, weights=npr_checkpoint, preset="native")
    assert res.run_dir is None
    assert set(tmp_path.rglob("*")) == before
    assert len(res.predictions) == 16 and set(res.predictions["label"]) == {0, 1}
    assert [r["dataset"] for r in res.metrics["per_dataset"]] == ["gen_a", "gen_b"]
    table = res.table()
    assert list(table["dataset"][:2]) == ["gen_a", "gen_b"]
    # accuracy in the table is the fraction of correct decisions at prob > 0.5, in percent
    sub = res.predictions[res.predictions["dataset"] == "gen_a"]
    expected = 100 * ((sub["prob"] > 0.5).astype(int) == sub["label"]).mean()
    assert table.loc[table["dataset"] == "gen_a", "acc"].item() == pytest.approx(expected, abs=0.01)
    assert "npr.file-" in repr(res)


def test_evaluate_with_output_matches_in_memory(image_tree, npr_checkpoint, tmp_path):
    det = fakebench.load_detector("npr", npr_checkpoint, preset="native")
    mem = fakebench.evaluate(det, image_tree, use_cache=False)
    disk = fakebench.evaluate(det, image_tree, output=tmp_path / "runs", use_cache=False)
    assert disk.run_dir is not None and (disk.run_dir / "results.json").is_file()
    # as JSON: NaN (e.g. TPR at 1% FPR, n/a below 1,000 reals) equals NaN there, as it does not under ==
    assert (json.dumps(read_results(disk.run_dir).metrics["per_dataset"], sort_keys=True)
            == json.dumps(disk.metrics["per_dataset"], sort_keys=True))
    assert [r["acc"] for r in mem.metrics["per_dataset"]] == [r["acc"] for r in disk.metrics["per_dataset"]]


def test_evaluate_validates_before_loading(tmp_path):
    with pytest.raises(DataError, match="exactly one data selection"):
        fakebench.evaluate("npr")
    with pytest.raises(DataError, match="does not exist. Check the --real-dir path"):
        fakebench.evaluate("npr", real_dir=tmp_path / "nope")


def test_schema_versions_and_refusal(tmp_path):
    assert parse_schema(RESULTS_SCHEMA) == (1, 1)
    good = {"schema": "fakebench.results/1", "date": "2026-01-01", "detector": {
        "name": "npr", "weights": {"tag": "file", "sha256": "ab" * 32, "path": None}, "preset": {"name": "native"}},
        "data": {"label": "x"}, "metrics": {"per_dataset": []}, "future_key": 1}
    rec = ResultsRecord.from_dict(good)
    assert rec.label == "npr.file-abababab@native" == run_label("npr", "file-abababab", "native")
    assert rec.extra == {"future_key": 1}
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**good, "schema": "fakebench.results/2.0"}))
    with pytest.raises(SchemaError, match="schema 2.0.*cannot read; upgrade fakebench"):
        read_results(path)
    path.write_text(json.dumps({**good, "schema": "something/1"}))
    with pytest.raises(SchemaError, match="not a fakebench results file"):
        read_results(tmp_path)
    bad = dict(good)
    del bad["metrics"]
    with pytest.raises(SchemaError, match="missing or malformed key"):
        ResultsRecord.from_dict(bad)
