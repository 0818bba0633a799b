"""Hardware in the loop, in labgrid's layers: resources (a QEMU machine, a serial port), a driver
that speaks the framed protocol over them, and the strategy that gets a board into a state where
tests can run (built, booted, identity checked)."""
