"""npin's orchestration layer: the CLI, config files, verification and benchmark runs."""
