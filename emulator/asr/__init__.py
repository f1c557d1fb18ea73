"""Azure Site Recovery (Microsoft.RecoveryServices/vaults/replication*) for the ARM emulator.

``models`` holds the state and behaviour (vaults, fabrics, containers, policies, mappings, protected
items, jobs, recovery plans) and knows nothing of HTTP; ``responses`` maps the ARM routes the
``SiteRecoveryManagementClient`` calls onto it, plus the ``/_emulator/asr`` admin routes.
"""
