"""GNA orchestration above the gna package: probe reports."""
