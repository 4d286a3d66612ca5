"""The whole configuration schema: the core's sections plus each feature package's own.

Part of the composition root (with ``cti/app.py`` and ``cti/cli.py``), the only modules of
``cti`` that know the feature packages. A feature with settings adds its section here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from cti.config import Config, load_config
from pivot.settings import PivotConfig


class AppConfig(Config):
    """The server's configuration: core sections, and ``[pivot]`` (pivot links and callbacks)."""

    pivot: PivotConfig = Field(default_factory=PivotConfig)


def load_app_config(path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None,
                    overrides: dict[str, Any] | None = None) -> AppConfig:
    """Read and validate the whole configuration (``cti.config.load_config`` with every feature's section)."""
    return load_config(path, environ=environ, overrides=overrides, schema=AppConfig)
