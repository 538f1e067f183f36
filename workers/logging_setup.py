"""structlog JSON logging for modstream and for the libraries under it (faust, aiokafka) alike."""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import structlog

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
]


# faust logs every produced record's value at DEBUG ("send: topic=... v=..."); dead letters carry message text.
RECORD_VALUE_LOGGERS: tuple[str, ...] = ("faust.topics", "faust.transport.drivers.aiokafka")


def logging_config(
    level: str = "INFO", json_logs: bool = True, log_message_text: bool = False
) -> dict[str, Any]:
    """A logging.dictConfig routing every stdlib logger through structlog's formatter.

    Message text stays out of the logs, whatever the level, unless ``log_message_text`` allows it.
    """
    renderer: Any = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    loggers: dict[str, Any] = {
        "aiokafka": {"level": "WARNING"},
        "faust": {"level": level},
        "mode": {"level": level},
    }
    if not log_message_text and logging.getLevelName(level) < logging.INFO:
        loggers.update({name: {"level": "INFO"} for name in RECORD_VALUE_LOGGERS})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
                "foreign_pre_chain": _SHARED_PROCESSORS,
            }
        },
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "structlog"}},
        "root": {"handlers": ["default"], "level": level},
        "loggers": loggers,
    }


def configure_logging(
    level: str = "INFO", json_logs: bool = True, *, log_message_text: bool = False
) -> dict[str, Any]:
    """Configure structlog + stdlib logging once at process start; returns the dictConfig used."""
    config = logging_config(level, json_logs, log_message_text)
    logging.config.dictConfig(config)
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return config
