"""HIL regression benchmarks: exact instruction counts under an ARM emulator, link figures over
serial, sizes, host-twin speed; stored per run, compared with a baseline, reported."""
