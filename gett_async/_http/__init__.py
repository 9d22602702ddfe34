"""The I/O layer: the two built-in transports, the sender (retries, gate, logs, hooks), the gate."""
