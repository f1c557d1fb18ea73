// Lets the Event Grid system topics of one monitored subscription write undeliverable events into the dead-letter
// container of the app's storage account. The topics authenticate with their system-assigned identity because the
// account has shared keys disabled; the role is scoped to that one container, not the account.
targetScope = 'resourceGroup'

param storageAccountName string
param containerName string

@description('Principal ids of the system topics\' managed identities (resource events and Resource Health).')
param principalIds array

@description('Built-in role GUID (Storage Blob Data Contributor).')
param roleDefinitionGuid string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: containerName
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(container.id, principalId, roleDefinitionGuid)
    scope: container
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]
