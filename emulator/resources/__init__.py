"""Microsoft.Resources: resource groups and the tags API."""
