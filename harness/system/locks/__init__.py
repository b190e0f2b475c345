"""Lock services: the protocol the engine uses, an in-process table, a ZeroMQ broker."""
