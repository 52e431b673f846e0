"""Reliability and security of the provider (issue 6): faults, crashes, refusals, bad input, secrets, TLS."""
