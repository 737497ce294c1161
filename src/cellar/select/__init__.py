"""What to mirror: requirements and the files they select (pure, no I/O)."""
