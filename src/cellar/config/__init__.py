"""The configuration: ``cellar.toml`` (``load``) or a bandersnatch INI file (``ini``) read into
one frozen ``Config`` (``model``), with every problem collected and named (``checks``).

The package imports nothing itself, so that ``config.location`` (which file to read) costs
``cellar --help`` nothing.
"""
