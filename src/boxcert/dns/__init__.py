"""The authoritative DNS server of the IoT zone."""
