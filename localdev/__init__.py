"""Local development tooling: start the local Azure (Azurite + the ARM emulator), run the functions.

Nothing here is deployed: it drives the registered functions the way the Functions host would, so the
demo and developers exercise the exact code that runs in Azure.
"""
