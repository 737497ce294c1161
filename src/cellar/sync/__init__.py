"""The mirror engine: plan, download and verify, then publish pages atomically."""
