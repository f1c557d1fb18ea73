// One recovery (target) resource group: where failed-over VMs, target PPGs and recovery availability sets live.
// The deployment creates it because ppg-dr does not: creating a resource group needs resourceGroups/write at
// subscription scope, and ppg-dr holds no role at subscription scope (docs/infra.md). main.bicep names it exactly
// as the app does (PPGDR_TARGET_RESOURCE_GROUP, '{source_resource_group}' replaced by the source group's name) and
// grants the app's roles on it once it exists.
//
// Declaring a resource group makes this deployment own its tags: an existing group gets `tags` (put your own tags
// there), and keeps its location only if `location` names it (Azure cannot move a resource group).
targetScope = 'subscription'

param name string
param location string
param tags object

resource recoveryGroup 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: name
  location: location
  tags: tags
}

output id string = recoveryGroup.id
