"""The core layer: strict boolean environment flags, the data root's precedence, bundled manifests."""

from __future__ import annotations

import pytest

from fakebench.core import env
from fakebench.core.names import suggest
from fakebench.data.manifest import load_manifests, resolve_manifest_path


@pytest.mark.parametrize("raw,expected", [("1", True), ("TRUE", True), (" yes ", True), ("on", True), ("0", False),
                                          ("false", False), ("No", False), ("off", False), ("", False)])
def test_env_flag_reads_the_documented_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FAKEBENCH_TEST_FLAG", raw)
    assert env.env_flag("FAKEBENCH_TEST_FLAG") is expected


def test_env_flag_default_and_typo(monkeypatch):
    monkeypatch.delenv("FAKEBENCH_TEST_FLAG", raising=False)
    assert env.env_flag("FAKEBENCH_TEST_FLAG") is False and env.env_flag("FAKEBENCH_TEST_FLAG", True) is True
    monkeypatch.setenv("FAKEBENCH_TEST_FLAG", "ture")
    with pytest.raises(ValueError, match="FAKEBENCH_TEST_FLAG.*'ture'"):
        env.env_flag("FAKEBENCH_TEST_FLAG")


def test_offline_when_either_variable_is_true(monkeypatch):
    monkeypatch.delenv("FAKEBENCH_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert env.is_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not env.is_offline()


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("FAKEBENCH_DATA", str(tmp_path / "data"))
    assert env.data_root() == (tmp_path / "data").resolve()
    monkeypatch.delenv("FAKEBENCH_DATA")
    assert env.checkout_root() is not None  # the tests run from a checkout
    assert env.data_root() == env.checkout_root() / "datasets"
    monkeypatch.setattr(env, "checkout_root", lambda: None)  # as an installed wheel sees it
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert env.data_root() == (tmp_path / "xdg" / "fakebench").resolve()
    assert "site-packages" not in str(env.data_root())


def test_bundled_manifests_resolve_by_name_and_load():
    assert resolve_manifest_path("default") == env.bundled_manifest("default") == env.default_manifest_path()
    manifest = load_manifests(["shared-samples"])
    assert manifest.paths == [env.bundled_manifest("shared-samples")]
    with pytest.raises(KeyError):
        env.bundled_manifest("nope")


def test_suggest_lists_close_matches_and_truncates():
    message = suggest("cnspot", [f"name{i}" for i in range(30)] + ["cnnspot"], "detector")
    assert "Did you mean 'cnnspot'" in message and "(31 in all)" in message
