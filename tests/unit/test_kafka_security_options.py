"""SASL/TLS settings reach every Kafka client: the hot path's consumer and producer and the admin client
(``workers.topics.admin_options``), and faust's own client (``workers.app.faust_settings``)."""

from __future__ import annotations

import ssl

import faust
from pydantic import SecretStr

from workers.app import faust_settings
from workers.settings import KafkaSettings, Settings
from workers.topics import admin_options

PASSWORD = "s3cret-value"


def _kafka(**fields: object) -> KafkaSettings:
    return KafkaSettings(**fields)


def _sasl_ssl(mechanism: str) -> KafkaSettings:
    return _kafka(
        security_protocol="SASL_SSL",
        sasl_mechanism=mechanism,
        sasl_username="modstream",
        sasl_password=SecretStr(PASSWORD),
    )


def test_plaintext_clients_get_no_credentials() -> None:
    assert admin_options(_kafka()) == {"security_protocol": "PLAINTEXT"}
    assert faust_settings(Settings())["broker_credentials"] is None


def test_sasl_ssl_gives_the_clients_a_tls_context_and_the_unwrapped_password() -> None:
    options = admin_options(_sasl_ssl("SCRAM-SHA-512"))

    assert isinstance(options.pop("ssl_context"), ssl.SSLContext)
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "modstream",
        "sasl_plain_password": PASSWORD,
    }


def test_sasl_without_a_mechanism_defaults_to_plain() -> None:
    options = admin_options(_kafka(security_protocol="SASL_PLAINTEXT", sasl_username="u"))
    assert (options["sasl_mechanism"], "ssl_context" in options) == ("PLAIN", False)


def test_faust_gets_sasl_credentials_with_the_same_user_and_mechanism() -> None:
    credentials = faust_settings(Settings(kafka=_sasl_ssl("SCRAM-SHA-256")))["broker_credentials"]

    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("modstream", PASSWORD)
    assert credentials.ssl_context is not None


def test_tls_only_gives_faust_ssl_credentials() -> None:
    credentials = faust_settings(Settings(kafka=_kafka(security_protocol="SSL")))["broker_credentials"]
    assert isinstance(credentials, faust.SSLCredentials)


def test_the_password_never_appears_in_the_settings_repr() -> None:
    settings = Settings(kafka=_kafka(security_protocol="SASL_PLAINTEXT", sasl_password=SecretStr(PASSWORD)))
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())
