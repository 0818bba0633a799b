"""The Neural Pin on the host: configs, parameter files, synthetic Pins and streams, verification, the host benchmark."""
