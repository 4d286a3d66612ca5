"""The composition root's light half: the whole configuration schema, the core's sections plus
each feature package's own.

With ``cti/app.py`` (the application) and ``cti/cli.py`` (the commands), this is the composition
root: the only modules of ``cti`` that know the feature packages. It stays free of the web
stack, so every CLI command can load the configuration quickly. A feature with settings adds
its section here.
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
