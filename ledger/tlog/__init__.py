"""Pure transparency-log formats, no database, no I/O; importable by stand-alone verifiers and
monitors."""
