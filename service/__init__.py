"""The long-running process around the engine: its HTTP endpoint, systemd notifications and workers."""
