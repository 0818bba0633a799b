"""The bottom layer: what every package shares (the error root, atomic writes, timing)."""
