"""Conformance of the emulator with recorded Azure sessions (tests/data/distilled)."""
