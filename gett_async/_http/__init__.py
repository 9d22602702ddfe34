"""The I/O layer: the aiohttp transport, the sender (retries, gate, logs, hooks), the gate."""
