// Role assignments for the ppg-dr identity on ONE resource group (a source or target VM resource group).
targetScope = 'resourceGroup'

param principalId string

@description('Role definition GUIDs (built-in Virtual Machine Contributor and the ppg-dr PPG operator custom role).')
param roleDefinitionGuids array

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleGuid in roleDefinitionGuids: {
    name: guid(resourceGroup().id, principalId, roleGuid)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleGuid)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]
