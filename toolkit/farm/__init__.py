"""A board farm on labgrid: a coordinator, an exporter serving the boards' serial ports, one place
per board, and the HIL suite run across the places in parallel."""
