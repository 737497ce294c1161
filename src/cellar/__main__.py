"""Run the command line as ``python -m cellar``."""

import sys

from cellar.cli import main

sys.exit(main())
