"""The README's measured tables, generated from the run files the commands wrote."""
