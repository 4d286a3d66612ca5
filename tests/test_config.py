"""Configuration: TOML, environment overrides, and clear errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.config import load_config
from cti.errors import ConfigError


def test_toml_and_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "cti.toml"
    path.write_text('[server]\nport = 9000\n[connectors.sip]\nusername = "cti"\npassword = "from-file"\n'
                    '[[channels.custom]]\nname = "shop-chat"\nsecret = "x"\n')
    config = load_config(path, environ={"CTI_CONNECTORS__SIP__PASSWORD": "from-env", "CTI_SERVER__PORT": "9100",
                                        "OTHER": "ignored"})
    assert config.server.port == 9100
    assert config.connectors["sip"]["password"] == "from-env"
    assert config.custom_channel("shop-chat") is not None


def test_unknown_key_stops_with_the_key_named(tmp_path: Path) -> None:
    path = tmp_path / "cti.toml"
    path.write_text("[server]\nprot = 9000\n")
    with pytest.raises(ConfigError, match=r"server\.prot"):
        load_config(path, environ={})


def test_bad_value_and_bad_routing_reference(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.port"):
        load_config(None, environ={"CTI_SERVER__PORT": "eighty"})
    path = tmp_path / "cti.toml"
    path.write_text('[[routing.rules]]\nname = "r"\nqueue = ["missing"]\n')
    with pytest.raises(ConfigError, match="unknown queue 'missing'"):
        load_config(path, environ={})


def test_missing_file_and_broken_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, environ={})
