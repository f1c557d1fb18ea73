"""Tests of the local ARM emulator: real SDK clients against the running server, and backends without HTTP."""
