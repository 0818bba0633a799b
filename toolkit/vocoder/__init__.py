"""The FiLM vocoder lane: speech corpus, features, training, GNA chain, evaluation (docs/vocoder.md)."""
