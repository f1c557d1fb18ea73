// Role assignment on ONE ASR cache storage account. Virtual Machine Contributor is what Site Recovery documents for
// the enable-replication access check; at storage-account scope only its Microsoft.Storage actions apply
// (storageAccounts/read and storageAccounts/listKeys/action).
targetScope = 'resourceGroup'

param storageAccountName string
param principalId string
param roleDefinitionGuid string

resource cacheAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(cacheAccount.id, principalId, roleDefinitionGuid)
  scope: cacheAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
