"""A labgrid BootstrapProtocol driver for tests: it records what it was asked to flash."""
from pathlib import Path

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.protocol import BootstrapProtocol


@target_factory.reg_driver
@attr.s(eq=False)
class RecordingFlasher(Driver, BootstrapProtocol):
    record = attr.ib(validator=attr.validators.instance_of(str))

    def load(self, filename=None):
        with open(self.record, "a") as fh:
            fh.write(f"{Path(filename).resolve()}\n")
