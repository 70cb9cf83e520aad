"""Manifest loading: valid files load; every malformed field is reported with the file, entry and field."""

from __future__ import annotations

import textwrap

import pytest

from fakebench.core.errors import ManifestError, UnknownNameError
from fakebench.data.manifest import load_manifest

_GOOD = """
schema_version: 1
suites:
  demo: {title: Demo, path: demo, sources: [{kind: url, ref: "http://127.0.0.1/demo.zip", archive: zip}]}
datasets:
  - {name: demo-real, suite: demo, generator: COCO, family: real, labels: real, layout: folder, path: demo/real,
     expected_count: {real: 3, fake: null}}
  - {name: demo-sd2, suite: demo, generator: SD2, family: diffusion, labels: fake, layout: folder, path: demo/sd2,
     real_reference: [demo-real], held_in: [npr.paper], published: {npr.paper: {acc: 91.5, source: paper}}}
  - {name: demo-gan, suite: demo, generator: ProGAN, family: gan, labels: mixed, layout: real_fake, path: demo/gan,
     crop_box: [1, 1, 9, 9]}
"""


def _write(tmp_path, text):
    path = tmp_path / "manifest.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_manifest_loads(tmp_path):
    m = load_manifest(_write(tmp_path, _GOOD))
    assert list(m.datasets) == ["demo-real", "demo-sd2", "demo-gan"]
    sd2 = m.get("demo-sd2")
    assert sd2.is_held_in("npr", "paper") and not sd2.is_held_in("npr", "progan_4class")
    assert sd2.published_for("npr", "paper", "resize256") == {"acc": 91.5, "source": "paper"}
    assert [e.name for e in m.with_references([sd2])] == ["demo-sd2", "demo-real"]
    assert [e.name for e in m.select(suites=["demo"])] == ["demo-real", "demo-sd2", "demo-gan"]
    assert m.suites["demo"].sources[0].archive == "zip"
    assert len(next(iter(m.digests.values()))) == 64


@pytest.mark.parametrize("old,new,message", [
    ("family: diffusion", "family: difusion", r"datasets\[1\] \(demo-sd2\): field 'family': expected one of"),
    ("crop_box: [1, 1, 9, 9]", "crop_box: [9, 1, 1, 9]", "field 'crop_box'"),
    ("acc: 91.5", "acc: 191.5", r"field 'published.npr.paper.acc': expected a percentage"),
    ("real_reference: [demo-real]", "real_reference: [demo-gan]", "is not a real-only dataset"),
    ("layout: real_fake", "layout: folder", "field 'layout'"),
    ("suite: demo, generator: ProGAN", "suite: dem, generator: ProGAN", "field 'suite': 'dem' is not defined"),
    ("expected_count: {real: 3, fake: null}", "expected_count: {real: -3}", "field 'expected_count'"),
    ("kind: url", "kind: ftp", r"field 'sources\[0\]'"),
])
def test_bad_fields_are_named(tmp_path, old, new, message):
    assert old in _GOOD
    path = _write(tmp_path, _GOOD.replace(old, new))
    with pytest.raises(ManifestError, match=message) as info:
        load_manifest(path)
    assert str(path) in str(info.value)


def test_duplicate_names_and_bad_yaml(tmp_path):
    dup = _GOOD + "  - {name: demo-real, suite: demo, generator: X, family: real, labels: real, layout: folder, path: x}\n"
    with pytest.raises(ManifestError, match="duplicate name"):
        load_manifest(_write(tmp_path, dup))
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(_write(tmp_path, "schema_version: [1"))
    with pytest.raises(ManifestError, match="schema_version"):
        load_manifest(_write(tmp_path, "schema_version: 2\n"))
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "missing.yaml")


def test_unknown_dataset_suggests(tmp_path):
    m = load_manifest(_write(tmp_path, _GOOD))
    with pytest.raises(UnknownNameError, match="Did you mean 'demo-sd2'"):
        m.get("demo-sd")


# -- issue 12: booleans are not image counts; per-suite protocols; the table's held-out view ---------------------------
@pytest.mark.parametrize("count", ["true", "false", "yes"])
def test_boolean_image_count_is_refused_with_file_and_key(tmp_path, count):
    """YAML ``true``/``yes`` load as ``bool``, an ``int`` subclass: it must not pass as 1 image."""
    path = _write(tmp_path, _GOOD.replace("expected_count: {real: 3, fake: null}", f"expected_count: {{real: {count}}}"))
    with pytest.raises(ManifestError, match=r"field 'expected_count': key 'real': .*boolean") as info:
        load_manifest(path)
    assert str(path) in str(info.value) and "demo-real" in str(info.value)


_PROTOCOL = _GOOD.replace("demo: {title: Demo, path: demo,", "demo: {title: Demo, path: demo, protocol: {npr: resize256},")


def test_suite_protocol_is_inherited_and_overridden(tmp_path):
    text = _PROTOCOL.replace("crop_box: [1, 1, 9, 9]}", "crop_box: [1, 1, 9, 9], protocol: {npr: native, "
                                                       "npr.paper: resize256_crop224}}")
    m = load_manifest(_write(tmp_path, text))
    assert m.get("demo-real").preset_for("npr") == "resize256"  # from the suite
    assert m.get("demo-gan").preset_for("npr") == "native"  # the dataset's own wins
    assert m.get("demo-gan").preset_for("npr", "paper") == "resize256_crop224"  # detector.tag first
    assert m.get("demo-gan").preset_for("npr", "progan_4class") == "native"
    assert m.get("demo-real").preset_for("cnnspot") is None
    assert m.get("demo-gan").to_dict()["protocol"]["npr"] == "native"


@pytest.mark.parametrize("protocol,message", [
    ("{npr: resize255}", r"field 'protocol.npr': 'resize255' is not a preset of npr; expected one of native"),
    ("{npr.nope: native}", r"field 'protocol.npr.nope': npr has no weights tag 'nope'"),
    ("{npr: 3}", r"field 'protocol.npr': expected a preset name"),
    ("[npr]", r"field 'protocol': expected a mapping"),
])
def test_bad_protocols_are_named(tmp_path, protocol, message):
    path = _write(tmp_path, _GOOD.replace("crop_box: [1, 1, 9, 9]}", f"crop_box: [1, 1, 9, 9], protocol: {protocol}}}"))
    with pytest.raises(ManifestError, match=message) as info:
        load_manifest(path)
    assert str(path) in str(info.value)


def test_table_held_out_marks_a_held_in_set(tmp_path):
    text = _GOOD.replace("held_in: [npr.paper],", "held_in: [npr.paper, npr.progan_4class], "
                                                   "held_out_in_table: [npr.paper],")
    sd2 = load_manifest(_write(tmp_path, text)).get("demo-sd2")
    assert sd2.is_held_in("npr", "paper") and not sd2.table_held_in("npr", "paper")
    assert sd2.is_held_in("npr", "progan_4class") and sd2.table_held_in("npr", "progan_4class")
    bad = _GOOD.replace("held_in: [npr.paper],", "held_in: [npr.paper], held_out_in_table: [npr.progan_4class],")
    with pytest.raises(ManifestError, match=r"field 'held_out_in_table': \['npr.progan_4class'\] are not in held_in"):
        load_manifest(_write(tmp_path, bad))


def _many_sets_manifest(tmp_path, n=30):
    manifest = tmp_path / "many.yaml"
    rows = "\n".join(f"  - {{name: set-{k:02d}-with-a-rather-long-name, suite: big, generator: G{k}, family: gan, "
                     f"labels: mixed, layout: real_fake, path: big/set{k:02d}}}" for k in range(n))
    manifest.write_text("schema_version: 1\nsuites: {big: {title: Big, path: big}}\ndatasets:\n" + rows + "\n")
    return manifest


def test_missing_suite_data_is_a_short_message(tmp_path):
    """Issue #20: 30 missing sets give a few short lines (count, the first names, one command for the suite, where
    the full list is), not one line with a download command per set."""
    from fakebench.core.errors import DataError
    from fakebench.data.manifest import load_manifest
    from fakebench.eval.harness import check_data_folders

    manifest = load_manifest(_many_sets_manifest(tmp_path))
    (tmp_path / "root").mkdir()
    with pytest.raises(DataError) as info:
        check_data_folders(manifest, list(manifest.datasets.values()), tmp_path / "root")
    message = str(info.value)
    assert "30 dataset folder(s) missing" in message and "set-00-with-a-rather-long-name" in message
    assert "fakebench download --suite big" in message and "fakebench list datasets" in message
    assert "set-29" not in message and message.count("fakebench download") == 1, message
    short = message.replace(str(tmp_path / "root"), "ROOT")  # the user's own path may be long
    assert len(short) < 500 and max(len(line) for line in short.splitlines()) <= 120, message


def test_data_root_one_level_too_high_is_named(tmp_path):
    """Issue #20: ``--data-root ../shared`` where ``../shared/data`` holds the sets -> "did you mean
    --data-root .../data", not a download command per set."""
    from fakebench.core.errors import DataError
    from fakebench.data.manifest import load_manifest
    from fakebench.eval.harness import check_data_folders

    manifest = load_manifest(_many_sets_manifest(tmp_path, n=3))
    for k in range(3):
        (tmp_path / "shared" / "data" / "big" / f"set{k:02d}").mkdir(parents=True)
    with pytest.raises(DataError) as info:
        check_data_folders(manifest, list(manifest.datasets.values()), tmp_path / "shared")
    message = str(info.value)
    assert f"--data-root {tmp_path / 'shared' / 'data'}" in message and "did you mean" in message, message
    assert "fakebench download" not in message, message
    check_data_folders(manifest, list(manifest.datasets.values()), tmp_path / "shared" / "data")  # the suggestion works
