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


def _email(**extra: object) -> dict[str, object]:
    return {"username": "support", "from_address": "support@example.com", **extra}


def test_connectors_are_switched_on_typed_and_validated_by_their_own_settings() -> None:
    from connectors.email import EmailChannel
    from connectors.xmpp import XmppChannel
    from cti.connector_host import connector_specs

    config = load_config(None, environ={}, overrides={"connectors": {
        "email": _email(),
        "sales-mail": _email(type="email", imap_port=1143),
        "xmpp": {"enabled": False, "jid": "a@b", "password": "p"},
    }})
    specs = {spec.name: spec for spec in connector_specs(config)}
    assert set(specs) == {"email", "sales-mail"}  # xmpp is switched off
    assert specs["email"].cls is EmailChannel and specs["sales-mail"].cls is EmailChannel
    assert specs["sales-mail"].settings.imap_port == 1143 and specs["email"].settings.imap_port == 143
    assert XmppChannel.identity_kind == "xmpp"


@pytest.mark.parametrize(("connectors", "message"), [
    ({"email": _email(imap_hots="x")}, r"connectors\.email\.imap_hots: Extra inputs are not permitted"),
    ({"email": {"username": "support"}}, r"connectors\.email\.from_address: Field required"),
    ({"email": _email(tls="sometimes")}, r"connectors\.email\.tls"),
    ({"pager": {"number": "1"}}, r"connectors\.pager: no connector of type 'pager' is installed \(installed: .*email"),
])
def test_a_wrong_connector_table_stops_the_server_naming_the_key(connectors: dict[str, object],
                                                                 message: str) -> None:
    from cti.app import create_app

    config = load_config(None, environ={}, overrides={"connectors": connectors})
    with pytest.raises(ConfigError, match=message):
        create_app(config)


def test_two_voice_connectors_cannot_both_place_outbound_calls() -> None:
    from cti.connector_host import connector_specs

    sections = {"sip": {"registrar": "127.0.0.1:5060", "username": "cti"},
                "twilio": {"account_sid": "AC1", "auth_token": "t", "phone_number": "+15550100"}}
    with pytest.raises(ConfigError) as refused:
        connector_specs(load_config(None, environ={}, overrides={"connectors": sections}))
    assert "place_outbound_calls = false" in str(refused.value)
    sections["twilio"]["place_outbound_calls"] = False
    assert len(connector_specs(load_config(None, environ={}, overrides={"connectors": sections}))) == 2
