"""The built-in server for a mirror's tree (Simple Repository API)."""
