"""Session fixtures: real Azurite and the ARM emulator, started once per test session."""

pytest_plugins = ["tests.fixtures.emulator", "tests.fixtures.azurite", "tests.fixtures.app"]
