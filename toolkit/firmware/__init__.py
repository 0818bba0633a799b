"""Firmware orchestration above the firmware package: PlatformIO builds."""
