// ppg-dr Function App on Flex Consumption (Linux, Python 3.11) with a system-assigned managed identity,
// its storage account (host + deployment package + ppg-dr state tables), Log Analytics and Application Insights,
// and the data-plane roles the identity needs on those two resources only.
targetScope = 'resourceGroup'

param location string
param tags object
param functionAppName string
param storageAccountName string
param storageSku string
param planName string
param logAnalyticsName string
param appInsightsName string
param maximumInstanceCount int
param instanceMemoryMB int
param zoneRedundant bool

@description('PPGDR_* settings computed by main.bicep (PPGDR_STATE_ENDPOINT is added here).')
param ppgdrSettings object

param storageBlobDataOwnerRoleId string
param storageTableDataContributorRoleId string
param monitoringMetricsPublisherRoleId string

// Flex Consumption deploys from a blob container; name <= 63 chars, lowercase.
var deploymentContainerName = 'app-package-${take(toLower(functionAppName), 32)}-${take(uniqueString(resourceGroup().id, functionAppName), 7)}'
var deadLetterContainerName = 'eventgrid-deadletter'

// ---------------------------------------------------------------------------------------------------------------
// Monitoring
// ---------------------------------------------------------------------------------------------------------------

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 90
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    // Ingestion only with an Entra token (APPLICATIONINSIGHTS_AUTHENTICATION_STRING below): the
    // instrumentation key in the connection string is then an identifier, not a credential.
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Storage: no shared keys at all. Flex Consumption needs no Azure Files content share, so every consumer
// (host, deployment, ppg-dr state) uses the managed identity.
// ---------------------------------------------------------------------------------------------------------------

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Public endpoint, Entra-only: Flex Consumption without VNet integration and Event Grid dead-lettering reach the account over it; no shared keys exist. Private endpoints are the documented next step (docs/infra.md).
  // checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35; blob public access itself is off (allowBlobPublicAccess: false).
  // checkov:skip=CKV_AZURE_206:ZRS by default: the state is rebuilt from Azure after a loss (adoption) and geo-replicated tables are readable only after a customer-initiated failover. storageSku allows Standard_GZRS.
  // checkov:skip=CKV_AZURE_43:The name is a parameter checkov cannot evaluate; its default is lower-case letters and digits, at most 24 characters.
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: storageSku
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Event Grid dead letters: events a subscription could not deliver in 24 hours (modules/event-subscriptions.bicep).
// Written by the system topics' identities (Storage Blob Data Contributor on this container only).
resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Table service for ppg-dr state; the tables themselves are created by the app's repository module.
resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// ---------------------------------------------------------------------------------------------------------------
// Function App
// ---------------------------------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Off by default (zoneRedundant parameter): on Flex Consumption it keeps at least two always-ready instances per function group, billed around the clock; timers resume on a new instance and the state is ZRS.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
    zoneRedundant: zoneRedundant
  }
}

var hostSettings = {
  // Identity-based host storage (system-assigned identity): no AzureWebJobsStorage connection string exists.
  AzureWebJobsStorage__accountName: storage.name
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
}

var allSettings = union(hostSettings, ppgdrSettings, {
  // ppg-dr state: Table endpoint of this account, used with the managed identity (no key, no SAS).
  PPGDR_STATE_ENDPOINT: storage.properties.primaryEndpoints.table
})

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:Event Grid (AzureFunction destination) and Azure Monitor action-group webhooks deliver to the public endpoint; every route authenticates (function key, Entra token, PPGDR_API_KEYS).
  // checkov:skip=CKV_AZURE_17:Neither Event Grid nor action groups present client certificates; callers authenticate with Entra tokens or keys.
  // checkov:skip=CKV_AZURE_212:Not applicable to Flex Consumption (numberOfWorkers is an App Service plan setting); the platform replaces instances.
  // checkov:skip=CKV_AZURE_213:Flex Consumption does not support the App Service health check; ppg-dr's own alert rules watch the timers.
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(allSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
  dependsOn: [
    deploymentContainer
  ]
}

// FTP and basic-auth publishing off: deployments go through Entra ID (az functionapp deployment / func publish).
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Roles on the app's OWN resources (resource scope, not resource group)
// ---------------------------------------------------------------------------------------------------------------

// Functions host: blob leases for timer singletons, host locks, function keys (azure-webjobs-secrets), and the
// Flex Consumption deployment package. "Storage Blob Data Owner" is the documented minimum for identity-based
// AzureWebJobsStorage (the host creates its containers).
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, site.id, storageBlobDataOwnerRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// ppg-dr state tables (workflows, leases, journal, audit) and the host's diagnostic events.
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, site.id, storageTableDataContributorRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry ingestion with Entra auth (local auth is disabled on the component).
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, site.id, monitoringMetricsPublisherRoleId)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output functionAppName string = site.name
output functionAppId string = site.id
output defaultHostName string = site.properties.defaultHostName
output principalId string = site.identity.principalId
output tableEndpoint string = storage.properties.primaryEndpoints.table
output storageAccountName string = storage.name
output storageAccountId string = storage.id
output deadLetterContainerName string = deadLetterContainer.name
