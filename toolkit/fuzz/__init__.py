"""Coverage-guided fuzzing: the firmware's byte readers under libFuzzer (native.py) and the
Python loaders of outside files (loaders.py)."""
