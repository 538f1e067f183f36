"""Message text stays out of the logs unless logging.log_message_text allows it: at DEBUG level faust logs
every produced record's value (dead letters carry the message), so those loggers are held at INFO."""

from __future__ import annotations

from workers.logging_setup import RECORD_VALUE_LOGGERS, logging_config


def levels(config: dict) -> dict[str, str]:
    return {name: logger["level"] for name, logger in config["loggers"].items()}


def test_record_value_loggers_stay_at_info_when_the_rest_logs_debug() -> None:
    assert {levels(logging_config("DEBUG"))[name] for name in RECORD_VALUE_LOGGERS} == {"INFO"}


def test_record_value_loggers_follow_the_level_when_message_text_is_allowed() -> None:
    config = logging_config("DEBUG", log_message_text=True)
    assert not set(RECORD_VALUE_LOGGERS) & set(levels(config))


def test_at_info_level_no_logger_is_singled_out() -> None:
    assert not set(RECORD_VALUE_LOGGERS) & set(levels(logging_config("INFO")))
