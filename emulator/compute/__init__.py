"""Microsoft.Compute: VMs, disks, PPGs, availability sets, capacity reservation groups."""
