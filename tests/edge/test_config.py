"""The edge's TOML configuration: init, load, token storage, clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from medcoop.edge.config import load_settings, write_default_config, write_site_token
from medcoop.edge.errors import ConfigError


def test_init_writes_a_commented_file_that_loads(tmp_path: Path) -> None:
    path = write_default_config(tmp_path / "edge.toml")
    text = path.read_text()
    assert text.count("#") > 10
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = load_settings(path)
    assert settings.dicom.ae_title == "MEDCOOP"
    assert settings.storage.retain_received is False
    assert settings.storage.data_dir == tmp_path / "edge-data"  # relative to the file
    assert settings.deid.key_file == tmp_path / "site.key"


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write_default_config(tmp_path / "edge.toml")
    with pytest.raises(ConfigError, match="already exists"):
        write_default_config(path)


def test_site_token_is_stored_and_comments_kept(tmp_path: Path) -> None:
    path = write_default_config(tmp_path / "edge.toml")
    write_site_token(path, hub_url="http://hub.invalid:8000", site_token='mcs_abc"def')
    settings = load_settings(path)
    assert settings.hub.url == "http://hub.invalid:8000"
    assert settings.hub.site_token == 'mcs_abc"def'
    assert "# Refuse new objects" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_site_token(path, hub_url="http://other.invalid", site_token="mcs_new")
    assert load_settings(path).hub.site_token == "mcs_new"
    assert path.read_text().count("site_token =") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = ", "cannot be read as TOML"),
        ('site_timezone = "Mars/Olympus"', "unknown IANA time zone"),
        ("[dicom]\nport = 70000", "dicom.port"),
        ("[dicom]\nae_title = 'THIS_TITLE_IS_FAR_TOO_LONG'", "dicom.ae_title"),
        ("surprise = 1", "surprise"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_missing_file_names_the_init_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="medcoop edge init"):
        load_settings(tmp_path / "absent.toml")
