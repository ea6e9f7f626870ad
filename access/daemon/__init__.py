"""`halfday door`: the door daemon, a thin shell that wires the pure core to the reader, the pins and the bus."""
