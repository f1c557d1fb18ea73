"""Minimal Microsoft.Network and Microsoft.Storage resources (ids are what ASR mappings refer to)."""
