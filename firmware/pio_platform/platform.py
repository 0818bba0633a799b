from platformio.public import PlatformBase


class NpinarmPlatform(PlatformBase):
    """No packages to fetch: the toolchain is the system's arm-none-eabi-gcc."""
