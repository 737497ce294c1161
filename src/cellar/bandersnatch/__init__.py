"""bandersnatch compatibility: its INI configuration, its filter plugins and its extra files.

``ini`` reads a ``bandersnatch.conf`` into Cellar's ``Config``; ``filters`` holds the filter
plugins' semantics; ``convert`` writes the equivalent ``cellar.toml``; ``layout`` renders the
files bandersnatch writes beside the Simple API pages (JSON API documents, ``status``,
``generation``, the diff file).
"""
