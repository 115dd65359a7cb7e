"""One small module per CLI command; each returns an exit code."""
