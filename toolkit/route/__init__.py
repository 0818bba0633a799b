"""Routing on real intents: sentence embeddings, datasets, the Pin and its baselines, metrics."""
