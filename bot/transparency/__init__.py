"""Transparency beyond our own database: witnesses we ask to cosign, the witness server,
monitors that follow a log over HTTP, and offline receipt verification."""
