// ppg-dr infrastructure: entry point.
//
// Deployed at SUBSCRIPTION scope (az deployment sub create, or azd up: see docs/deploy.md) because it has to:
//   - create the ppg-dr resource group and the recovery resource groups (the app never creates a resource group),
//   - define one narrow custom role (PPG read/write) whose assignable scopes are resource groups,
//   - reach resource groups in other subscriptions (VM, vault, network and cache-storage scopes),
//   - create Event Grid system topics for every monitored subscription (modules/subscription-monitoring.bicep,
//     itself targetScope = 'subscription', deployed once per subscription).
// No role is ASSIGNED at subscription scope: every role assignment lives in a resource-group-scoped module and
// targets a resource group or a single resource (see docs/infra.md, "Scopes").
targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------------------------
// Placement and naming
// ---------------------------------------------------------------------------------------------------------------

@description('Region of the ppg-dr Function App. Put it OUTSIDE the primary (source) region, ideally in the DR region or a third region: the orchestrator must survive the outage it reacts to. Must be a region that offers Flex Consumption.')
param location string

@description('Resource group for the Function App, its storage, monitoring and the action group (created if missing).')
param appResourceGroupName string = 'rg-ppgdr'

@minLength(3)
@maxLength(12)
@description('Short lowercase prefix used to derive resource names.')
param namePrefix string = 'ppgdr'

@description('Function App name (globally unique DNS label).')
param functionAppName string = '${namePrefix}-func-${uniqueString(subscription().id, appResourceGroupName)}'

@maxLength(24)
@description('Storage account name for the Functions host, the deployment package and ppg-dr state (tables). 3-24 lowercase letters/digits.')
param storageAccountName string = take('${namePrefix}st${uniqueString(subscription().id, appResourceGroupName)}', 24)

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GZRS'
])
@description('Redundancy of the state storage account. ZRS keeps ppg-dr state through a zone outage in the app region; GZRS also copies it to the paired region (readable there only after a storage failover).')
param storageSku string = 'Standard_ZRS'

@description('Flex Consumption zone redundancy (regions that support it). Off by default: Azure then keeps at least two always-ready instances per function group, billed continuously (docs/deploy.md, Costs).')
param zoneRedundant bool = false

@minValue(40)
@maxValue(1000)
@description('Flex Consumption: maximum instance count (40 is the platform minimum for this setting). ppg-dr is not throughput-bound; leases in Table storage serialise work per group.')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption: instance memory size in MB.')
param instanceMemoryMB int = 2048

@description('Tags applied to every resource created by this deployment.')
param tags object = {
  application: 'ppg-dr'
}

// ---------------------------------------------------------------------------------------------------------------
// Scopes the managed identity is allowed to act on (resource ids; all lists may span subscriptions)
// ---------------------------------------------------------------------------------------------------------------

@description('Resource id of the existing Recovery Services vault (Site Recovery Contributor is granted on this vault only).')
param recoveryVaultId string

@minLength(1)
@description('Resource group ids that contain protected (source) VMs, their PPGs and availability sets. For each one the deployment creates its recovery resource group (targetResourceGroup) in the same subscription, and grants the same roles on both.')
param sourceResourceGroupIds array

@description('Existing resource groups that are not the recovery group of a source group but that ppg-dr must also act in, e.g. the target resource groups of VMware/Hyper-V replicated items (docs/placement-rules.md). Granted, not created.')
param additionalTargetResourceGroupIds array = []

@description('Subscriptions ppg-dr watches (Event Grid system topics, alerts) and reconciles. Defaults to the deployment subscription.')
param monitoredSubscriptionIds array = [
  subscription().subscriptionId
]

// ---------------------------------------------------------------------------------------------------------------
// ppg-dr application settings (one parameter per PPGDR_* setting)
// ---------------------------------------------------------------------------------------------------------------

@description('PPGDR_ARM_ENDPOINT: Azure Resource Manager endpoint.')
param armEndpoint string = 'https://management.azure.com'

@description('PPGDR_REGION_PAIRS: comma-separated source:target region pairs, e.g. westeurope:northeurope,eastus:westus2.')
param regionPairs string

@description('PPGDR_TARGET_RESOURCE_GROUP: name of the recovery resource group for failed-over VMs, target PPGs and availability sets; {source_resource_group} is replaced by the VM\'s resource group name (the app\'s default). The deployment creates this group for every source resource group.')
param targetResourceGroup string = '{source_resource_group}-asr'

@description('Location of the recovery resource groups the deployment creates (a resource group\'s location is metadata; its resources can be anywhere). Defaults to the DR region of the first region pair. A recovery group that already exists must be given its own location: Azure does not move resource groups.')
param recoveryResourceGroupLocation string = toLower(trim(last(split(first(split(regionPairs, ',')), ':'))))

@description('PPGDR_CACHE_STORAGE_ACCOUNTS: comma-separated region=storageAccountResourceId list, one ASR cache account for EVERY region of regionPairs (both sides: reprotect after a failover stages in the DR region\'s account). Region names lower-case, as Azure reports VM locations. The account ids are also the scopes of the cache-account role assignments.')
param cacheStorageAccounts string

@description('PPGDR_NETWORK_MAPPINGS: comma-separated sourceVnetId=targetVnetId list. Both vnets of every pair get the subnet-join permission (failover and failback).')
param networkMappings string = ''

@description('PPGDR_TEST_NETWORK_IDS: comma-separated region=vnetResourceId list of isolated networks for test failovers (drills).')
param testNetworkIds string = ''

@description('PPGDR_API_KEYS: comma-separated sha256:<hex> digests of the keys callers of the HTTP API present (x-functions-key header or code query parameter); digests, so the setting holds no usable secret.')
param apiKeyDigests string = ''

@allowed([
  'off'
  'approve'
  'auto'
])
@description('PPGDR_FAILOVER_MODE: default per-group failover mode.')
param failoverMode string = 'approve'

@minValue(0)
@description('PPGDR_MAX_FAILOVERS_PER_HOUR: blast-radius cap on group failovers started per hour.')
param maxFailoversPerHour int = 1

@description('PPGDR_DRY_RUN: plan and audit but never write to Azure. Defaults to true for a first deployment; set false once the plans look right.')
param dryRun bool = true

@description('PPGDR_ALERT_RULE_IDS: optional allow-list of the alert rule resource ids /api/alerts trusts (empty: any rule of a watched subscription, by signal type).')
param alertRuleIds array = []

@description('PPGDR_OPERATOR_AUDIENCE: comma-separated audience(s) of operator Entra tokens (empty: the alert audience).')
param operatorAudience string = ''

@secure()
@description('PPGDR_SESSION_SECRET: HMAC key of dashboard sessions, 32+ random characters, the same on every instance. Pass it from Key Vault (docs/deploy.md); empty: a random key per process, so a sign-in lasts only as long as its instance.')
param sessionSecret string = ''

@description('Other app settings (name: value) the deployment keeps, e.g. PPGDR_EVENT_DEDUP_HOURS or PPGDR_LEASE_SECONDS: the deployment writes the app settings as one list, so a setting set by hand is removed by the next deployment unless it is here. The settings above win over the same names here.')
param additionalAppSettings object = {}

// ---------------------------------------------------------------------------------------------------------------
// Events and alerting
// ---------------------------------------------------------------------------------------------------------------

@description('Create the Event Grid event subscriptions. Leave false on the first deployment: an AzureFunction destination must already contain the resource_events / health_events functions, which exist only after the code is published.')
param deployEventSubscriptions bool = false

@description('Resource group (created in each monitored subscription) for the Event Grid system topics and alert rules.')
param monitoringResourceGroupName string = appResourceGroupName

@description('Name of the Microsoft.Resources.Subscriptions system topic in each monitored subscription. Azure allows ONE system topic per source: if one exists, put its name here and its resource group in monitoringResourceGroupName.')
param armSystemTopicName string = '${namePrefix}-arm-events'

@description('Name of the Microsoft.ResourceNotifications.HealthResources system topic in each monitored subscription (same one-per-source rule).')
param healthSystemTopicName string = '${namePrefix}-health-events'

@description('Regions of the VMs to watch with the VmAvailabilityMetric alert (multi-resource metric alerts are per region). Usually the source regions of PPGDR_REGION_PAIRS.')
param vmAlertRegions array = []

@allowed([
  'aad'
  'functionKey'
])
@description('How the action group authenticates to /api/alerts: aad (secure webhook, Entra token, no secret; the app validates the token) or functionKey (function key in the URL). Also PPGDR_ALERT_AUTH_MODE. Each mode needs its credentials below, or the deployment fails.')
param alertWebhookAuthMode string = 'aad'

@description('aad mode (required there): object id of the Entra application that represents the ppg-dr alert API (the secure-webhook app registration).')
param alertWebhookAadObjectId string = ''

@description('aad mode (required there): Application ID URI of that Entra application (the token audience, e.g. api://ppgdr-alerts). Also PPGDR_ALERT_AUDIENCE.')
param alertWebhookAadIdentifierUri string = ''

@secure()
@description('functionKey mode (required there): function key for the alerts route. Pass it from Key Vault (see docs/deploy.md); never commit it.')
param alertWebhookFunctionKey string = ''

@description('Optional e-mail addresses of DR operators added to the action group.')
param operatorEmails array = []

// ---------------------------------------------------------------------------------------------------------------
// Built-in role definitions used by this deployment: the complete allow-list (tests/unit/test_infra_static.py).
// ---------------------------------------------------------------------------------------------------------------

var builtInRoles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  siteRecoveryContributor: '6670b86e-a3f7-4917-ac9b-5d6ab1be4567'
  virtualMachineContributor: '9980e02c-c2be-4d73-94e8-173b1dc7cf3c'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
}

// ---------------------------------------------------------------------------------------------------------------
// Deployment checks. Evaluated before anything is deployed; fail() stops the deployment with its message.
// ---------------------------------------------------------------------------------------------------------------

// Alerts must reach the app: each auth mode needs its credentials, or the action group would get no webhook
// receiver and every alert would be lost without a trace.
var aadReceiverIncomplete = (alertWebhookAuthMode == 'aad') && (empty(alertWebhookAadObjectId) || empty(alertWebhookAadIdentifierUri))
var keyReceiverIncomplete = (alertWebhookAuthMode == 'functionKey') && empty(alertWebhookFunctionKey)
var checkedAlertAuthMode = aadReceiverIncomplete ? fail('ppg-dr: alerts would reach no receiver. alertWebhookAuthMode is aad, so alertWebhookAadObjectId and alertWebhookAadIdentifierUri are both required: register the alert API application (docs/deploy.md, Alert authentication) and pass its object id and Application ID URI, or deploy with alertWebhookAuthMode=functionKey and alertWebhookFunctionKey.') : (keyReceiverIncomplete ? fail('ppg-dr: alerts would reach no receiver. alertWebhookAuthMode is functionKey, so alertWebhookFunctionKey is required (a Key Vault reference, docs/deploy.md), or deploy with alertWebhookAuthMode=aad.') : alertWebhookAuthMode)

// Every region of every pair has its cache account: enable stages in the source region's, reprotect after a failover
// in the DR region's. Keys are compared as the app reads them (lower-case region names).
var pairRegions = union(map(flatten(map(filter(split(regionPairs, ','), pair => contains(pair, ':')), pair => split(pair, ':'))), region => toLower(trim(region))), [])
var cacheRegions = map(filter(split(cacheStorageAccounts, ','), entry => contains(entry, '=')), entry => trim(split(entry, '=')[0]))
var regionsWithoutCache = filter(pairRegions, region => !contains(cacheRegions, region))
var checkedCacheStorageAccounts = empty(regionsWithoutCache) ? cacheStorageAccounts : fail('ppg-dr: cacheStorageAccounts has no ASR cache storage account for ${join(regionsWithoutCache, ', ')}. Every region of regionPairs needs one (region=storageAccountId, region in lower case): enable replication stages in the source region\'s account, reprotect after a failover in the DR region\'s.')

// A session key shorter than the app accepts would stop every instance at start-up (SettingsError): refuse it here.
var checkedSessionSecret = ((length(sessionSecret) > 0) && (length(sessionSecret) < 32)) ? fail('ppg-dr: sessionSecret must be at least 32 characters (a random value from Key Vault), or empty for a key per process.') : sessionSecret

// ---------------------------------------------------------------------------------------------------------------
// Scopes
// ---------------------------------------------------------------------------------------------------------------

// The recovery resource group of each source resource group, named as the app names it (Settings.target_resource_group_for:
// '{source_resource_group}' replaced by the source group's name) in the source group's subscription. The deployment
// creates them: the app never creates a resource group and refuses protection when its recovery group is missing.
var recoveryResourceGroupIds = union(map(sourceResourceGroupIds, id => '/subscriptions/${split(id, '/')[2]}/resourceGroups/${replace(targetResourceGroup, '{source_resource_group}', split(id, '/')[4])}'), [])

// Resource groups holding VMs. DR is symmetric: after a failover the recovery group is the source of reprotect and
// failback, so source, recovery and additional groups all get the same roles.
var vmResourceGroupIds = union(
  map(sourceResourceGroupIds, id => toLower(id)),
  map(recoveryResourceGroupIds, id => toLower(id)),
  map(additionalTargetResourceGroupIds, id => toLower(id))
)

// Custom role (PPG read/write only): Virtual Machine Contributor does not include Microsoft.Compute/proximityPlacementGroups/*.
var ppgOperatorRoleGuid = guid(subscription().id, appResourceGroupName, functionAppName, 'ppgdr-ppg-operator')

// Ids parsed from the same strings the app reads, so settings and permissions cannot drift apart.
var cacheStorageAccountIds = union(
  map(filter(split(checkedCacheStorageAccounts, ','), entry => contains(entry, '=')), entry => toLower(trim(split(entry, '=')[1]))),
  []
)
var networkIds = filter(
  union(
    map(flatten(map(filter(split(networkMappings, ','), entry => contains(entry, '=')), entry => split(entry, '='))), id => toLower(trim(id))),
    map(filter(split(testNetworkIds, ','), entry => contains(entry, '=')), entry => toLower(trim(split(entry, '=')[1])))
  ),
  id => !empty(id)
)

// PPGDR_STATE_ENDPOINT (the storage account's table endpoint) is added inside modules/app.bicep, where the account is created.
var ppgdrSettings = {
  PPGDR_ARM_ENDPOINT: armEndpoint
  PPGDR_VAULT_ID: recoveryVaultId
  PPGDR_REGION_PAIRS: regionPairs
  PPGDR_TARGET_RESOURCE_GROUP: targetResourceGroup
  PPGDR_CACHE_STORAGE_ACCOUNTS: checkedCacheStorageAccounts
  PPGDR_NETWORK_MAPPINGS: networkMappings
  PPGDR_TEST_NETWORK_IDS: testNetworkIds
  PPGDR_API_KEYS: apiKeyDigests
  PPGDR_SUBSCRIPTIONS: join(monitoredSubscriptionIds, ',')
  PPGDR_RESOURCE_GROUPS: join(sourceResourceGroupIds, ',')
  PPGDR_FAILOVER_MODE: failoverMode
  PPGDR_MAX_FAILOVERS_PER_HOUR: string(maxFailoversPerHour)
  PPGDR_DRY_RUN: dryRun ? 'true' : 'false'
  // How /api/alerts authenticates the action group; in aad mode the app validates the Entra token against the
  // audience and the tenant's signing keys.
  PPGDR_ALERT_AUTH_MODE: checkedAlertAuthMode
  PPGDR_ALERT_AUDIENCE: alertWebhookAadIdentifierUri
  PPGDR_TENANT_ID: tenant().tenantId
  PPGDR_ALERT_RULE_IDS: join(alertRuleIds, ',')
  PPGDR_OPERATOR_AUDIENCE: operatorAudience
  PPGDR_SESSION_SECRET: checkedSessionSecret
}

// ---------------------------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------------------------

resource appRg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: appResourceGroupName
  location: location
  tags: tags
}

// The recovery resource groups, before any role is granted on them (see recoveryResourceGroupIds).
module recoveryResourceGroups 'modules/recovery-resource-group.bicep' = [
  for (rgId, i) in recoveryResourceGroupIds: {
    name: 'ppgdr-recovery-rg-${i}-${uniqueString(rgId)}'
    scope: subscription(split(rgId, '/')[2])
    params: {
      name: split(rgId, '/')[4]
      location: recoveryResourceGroupLocation
      tags: union(tags, { 'managed-by': 'ppg-dr' })
    }
  }
]

// Function App, storage, monitoring, action group, and the roles on its OWN storage / Application Insights.
module app 'modules/app.bicep' = {
  name: 'ppgdr-app'
  scope: appRg
  params: {
    location: location
    tags: tags
    functionAppName: functionAppName
    storageAccountName: storageAccountName
    storageSku: storageSku
    planName: '${namePrefix}-plan'
    logAnalyticsName: '${namePrefix}-logs'
    appInsightsName: '${namePrefix}-appi'
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    zoneRedundant: zoneRedundant
    storageBlobDataOwnerRoleId: builtInRoles.storageBlobDataOwner
    storageTableDataContributorRoleId: builtInRoles.storageTableDataContributor
    monitoringMetricsPublisherRoleId: builtInRoles.monitoringMetricsPublisher
    ppgdrSettings: union(additionalAppSettings, ppgdrSettings)
  }
}

module alerting 'modules/action-group.bicep' = {
  name: 'ppgdr-action-group'
  scope: appRg
  params: {
    tags: tags
    actionGroupName: '${namePrefix}-alerts'
    groupShortName: take('${namePrefix}dr', 12)
    alertsUri: 'https://${app.outputs.defaultHostName}/api/alerts'
    authMode: checkedAlertAuthMode
    aadObjectId: alertWebhookAadObjectId
    aadIdentifierUri: alertWebhookAadIdentifierUri
    aadTenantId: subscription().tenantId
    functionKey: alertWebhookFunctionKey
    operatorEmails: operatorEmails
  }
}

// Site Recovery Contributor on the vault only (not its resource group).
module vaultRole 'modules/rbac-vault.bicep' = {
  name: 'ppgdr-rbac-vault'
  scope: resourceGroup(split(recoveryVaultId, '/')[2], split(recoveryVaultId, '/')[4])
  params: {
    vaultName: last(split(recoveryVaultId, '/'))
    principalId: app.outputs.principalId
    roleDefinitionGuid: builtInRoles.siteRecoveryContributor
  }
}

// Narrow custom role: read/write proximity placement groups; assignable only to the VM resource groups.
module ppgRole 'modules/ppg-role-definition.bicep' = {
  name: 'ppgdr-ppg-role'
  params: {
    roleGuid: ppgOperatorRoleGuid
    roleName: 'ppg-dr PPG operator (${functionAppName})'
    assignableScopes: vmResourceGroupIds
  }
  dependsOn: [
    recoveryResourceGroups // assignable scopes must exist
  ]
}

// Virtual Machine Contributor + the PPG custom role on each source, recovery and additional VM resource group.
module vmRgRoles 'modules/rbac-resource-group.bicep' = [
  for (rgId, i) in vmResourceGroupIds: {
    name: 'ppgdr-rbac-rg-${i}-${uniqueString(rgId)}'
    scope: resourceGroup(split(rgId, '/')[2], split(rgId, '/')[4])
    params: {
      principalId: app.outputs.principalId
      roleDefinitionGuids: [
        builtInRoles.virtualMachineContributor
        ppgRole.outputs.roleGuid
      ]
    }
    dependsOn: [
      recoveryResourceGroups
    ]
  }
]

// ASR linked-access check on the cache storage accounts (storageAccounts/read + listKeys): granted on each account.
module cacheRoles 'modules/rbac-storage-account.bicep' = [
  for (accountId, i) in cacheStorageAccountIds: {
    name: 'ppgdr-rbac-cache-${i}-${uniqueString(accountId)}'
    scope: resourceGroup(split(accountId, '/')[2], split(accountId, '/')[4])
    params: {
      storageAccountName: last(split(accountId, '/'))
      principalId: app.outputs.principalId
      roleDefinitionGuid: builtInRoles.virtualMachineContributor
    }
  }
]

// ASR linked-access check on mapped and test networks (virtualNetworks/read + subnets/join): granted on each vnet.
module networkRoles 'modules/rbac-virtual-network.bicep' = [
  for (vnetId, i) in networkIds: {
    name: 'ppgdr-rbac-vnet-${i}-${uniqueString(vnetId)}'
    scope: resourceGroup(split(vnetId, '/')[2], split(vnetId, '/')[4])
    params: {
      virtualNetworkName: last(split(vnetId, '/'))
      principalId: app.outputs.principalId
      roleDefinitionGuid: builtInRoles.virtualMachineContributor
    }
  }
]

// Event Grid system topics and alert rules, once per monitored subscription.
module monitoring 'modules/subscription-monitoring.bicep' = [
  for (subscriptionId, i) in monitoredSubscriptionIds: {
    name: 'ppgdr-monitoring-${i}-${uniqueString(subscriptionId)}'
    scope: subscription(subscriptionId)
    params: {
      location: location
      tags: tags
      resourceGroupName: monitoringResourceGroupName
      actionGroupId: alerting.outputs.actionGroupId
      watchedResourceGroupIds: vmResourceGroupIds
      vmAlertRegions: vmAlertRegions
      armSystemTopicName: armSystemTopicName
      healthSystemTopicName: healthSystemTopicName
      namePrefix: namePrefix
    }
    dependsOn: [
      recoveryResourceGroups // alert rules are scoped to them
    ]
  }
]

// The topics' identities may write undeliverable events into the app's dead-letter container (first pass, so the
// grant exists before any event subscription does).
module deadLetterRoles 'modules/rbac-dead-letter.bicep' = [
  for (subscriptionId, i) in monitoredSubscriptionIds: {
    name: 'ppgdr-rbac-deadletter-${i}-${uniqueString(subscriptionId)}'
    scope: appRg
    params: {
      storageAccountName: app.outputs.storageAccountName
      containerName: app.outputs.deadLetterContainerName
      principalIds: [
        monitoring[i].outputs.armTopicPrincipalId
        monitoring[i].outputs.healthTopicPrincipalId
      ]
      roleDefinitionGuid: builtInRoles.storageBlobDataContributor
    }
  }
]

// Second pass (deployEventSubscriptions=true, after the code is published): the Event Grid subscriptions, with
// retries, dead-lettering and server-side filters. An AzureFunction destination must already hold the function.
var eventSubscriptionTargets = deployEventSubscriptions ? monitoredSubscriptionIds : []

module eventSubscriptions 'modules/event-subscriptions.bicep' = [
  for (subscriptionId, i) in eventSubscriptionTargets: {
    name: 'ppgdr-event-subscriptions-${i}-${uniqueString(subscriptionId)}'
    scope: resourceGroup(subscriptionId, monitoringResourceGroupName)
    params: {
      functionAppId: app.outputs.functionAppId
      armSystemTopicName: armSystemTopicName
      healthSystemTopicName: healthSystemTopicName
      namePrefix: namePrefix
      deadLetterStorageAccountId: app.outputs.storageAccountId
      deadLetterContainerName: app.outputs.deadLetterContainerName
    }
    dependsOn: [
      monitoring
      deadLetterRoles
    ]
  }
]

// ---------------------------------------------------------------------------------------------------------------
// Outputs (identifiers only: no keys, no connection strings)
// ---------------------------------------------------------------------------------------------------------------

output functionAppName string = app.outputs.functionAppName
output functionAppId string = app.outputs.functionAppId
output functionAppHostName string = app.outputs.defaultHostName
output principalId string = app.outputs.principalId
output stateTableEndpoint string = app.outputs.tableEndpoint
output actionGroupId string = alerting.outputs.actionGroupId
output ppgOperatorRoleDefinitionGuid string = ppgRole.outputs.roleGuid
output recoveryResourceGroupIds array = recoveryResourceGroupIds

// For the Azure Developer CLI (azure.yaml finds the app by these; azd stores outputs in the environment).
output AZURE_RESOURCE_GROUP string = appRg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
