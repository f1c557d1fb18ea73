// Role assignment on ONE virtual network (mapped source/target vnet or the test-failover vnet). At vnet scope only
// Virtual Machine Contributor's network actions apply: virtualNetworks/read and virtualNetworks/subnets/join/action,
// which Site Recovery checks before it places failed-over (or test) NICs in the vnet.
targetScope = 'resourceGroup'

param virtualNetworkName string
param principalId string
param roleDefinitionGuid string

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' existing = {
  name: virtualNetworkName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vnet.id, principalId, roleDefinitionGuid)
  scope: vnet
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
