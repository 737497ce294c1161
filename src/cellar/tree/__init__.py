"""The mirror's tree: the only way from a name or a path to a place on disk (``paths``)."""
