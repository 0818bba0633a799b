"""GNA 2.0: model IR, bit-exact emulator and the libGNA backend (see the GNA issues)."""
