"""Local Azure Resource Manager emulator (Compute, Resources, Site Recovery).

It stands in for Azure the way moto stands in for AWS: the unmodified Azure SDK clients talk to it
over HTTPS through ``base_url``. It shares no code with the application (``shared/``, ``functions/``)
on purpose: code shared by both sides would let one bug hide itself on both.
"""
