"""The lab: the real components on loopback, each troubleshooting fault injected for real."""
