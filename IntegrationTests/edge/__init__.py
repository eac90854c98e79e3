"""Hostile input over raw sockets (numeric edges, short and garbled bodies, framing, stalled clients): the
requests here are ones a well-behaved HTTP library refuses to send, so rawhttp.py writes them by hand."""
