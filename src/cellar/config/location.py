"""Which configuration file `cellar` reads: --config, else $CELLAR_CONFIG, else the default.

Apart from ``cellar.config`` so that the command line can name it in ``--help`` without loading
what reading a configuration needs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: Where ``cellar`` looks for its configuration when neither ``--config`` nor the environment
#: variable names one.
DEFAULT_CONFIG = Path("cellar.toml")
CONFIG_ENV = "CELLAR_CONFIG"


def config_path(explicit: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """Return the config file to read: ``explicit``, else ``$CELLAR_CONFIG``, else the default."""
    if explicit:
        return Path(explicit)
    from_env = environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG
