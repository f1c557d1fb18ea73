// Custom role "ppg-dr PPG operator": the one permission family Virtual Machine Contributor lacks.
// VM Contributor covers virtualMachines/*, availabilitySets/* and disks, but NOT proximityPlacementGroups/*, which
// ppg-dr needs to read source PPGs and to create/update target PPGs (intent VM sizes, zone, predictable names).
// Delete is included only for the target PPGs ppg-dr created (tagged managed-by=ppg-dr) and nothing uses any
// more; the app never deletes another PPG. The definition is created at subscription scope (role definitions are
// subscription-level objects) but it is ASSIGNABLE only to the listed resource groups.
targetScope = 'subscription'

param roleGuid string
param roleName string

@description('Resource group ids the role may be assigned on (the source and target VM resource groups).')
param assignableScopes array

resource ppgOperator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleGuid
  properties: {
    roleName: roleName
    description: 'ppg-dr: read proximity placement groups, create/update target proximity placement groups, and delete the ones it created (tagged managed-by=ppg-dr) once nothing uses them.'
    type: 'customRole'
    permissions: [
      {
        actions: [
          'Microsoft.Compute/proximityPlacementGroups/read'
          'Microsoft.Compute/proximityPlacementGroups/write'
          'Microsoft.Compute/proximityPlacementGroups/delete'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

output roleGuid string = ppgOperator.name
