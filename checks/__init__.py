"""Check implementations: one module per domain, each check one decorated pure function."""
