"""Writes to the fleet registry. Each service owns its transaction."""
