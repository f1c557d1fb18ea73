// Site Recovery Contributor for the ppg-dr identity, scoped to the Recovery Services vault itself.
targetScope = 'resourceGroup'

param vaultName string
param principalId string

@description('Built-in role GUID (Site Recovery Contributor).')
param roleDefinitionGuid string

resource vault 'Microsoft.RecoveryServices/vaults@2024-04-01' existing = {
  name: vaultName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roleDefinitionGuid)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
