"""Fact domains: each module declares the facts of one domain and the pure parsers that
turn their raw text into typed values for the checks."""
