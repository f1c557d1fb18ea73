// Azure Monitor action group that posts alerts (common alert schema) to the ppg-dr HTTP alert route /api/alerts.
// aad mode (default): secure webhook. Azure Monitor obtains an Entra token for the ppg-dr alert API application
// (audience = aadIdentifierUri) and sends it as a Bearer token; nothing secret is stored anywhere.
// functionKey mode: the function key is passed as a @secure() parameter and only ever placed in the receiver URL.
targetScope = 'resourceGroup'

param tags object
param actionGroupName string

@maxLength(12)
param groupShortName string

@description('https://<host>/api/alerts')
param alertsUri string

@allowed([
  'aad'
  'functionKey'
])
param authMode string

param aadObjectId string
param aadIdentifierUri string
param aadTenantId string

@secure()
param functionKey string

param operatorEmails array

var aadReceiver = {
  name: 'ppgdr-alerts-aad'
  serviceUri: alertsUri
  useCommonAlertSchema: true
  useAadAuth: true
  objectId: aadObjectId
  identifierUri: aadIdentifierUri
  tenantId: aadTenantId
}

var keyReceiver = {
  name: 'ppgdr-alerts-key'
  serviceUri: '${alertsUri}?code=${functionKey}'
  useCommonAlertSchema: true
  useAadAuth: false
}

// A receiver is only created when its credentials are present, so a half-configured deployment never posts
// unauthenticated alerts (and never fails on an empty objectId).
var aadConfigured = authMode == 'aad' && !empty(aadObjectId) && !empty(aadIdentifierUri)
var keyConfigured = authMode == 'functionKey' && !empty(functionKey)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: groupShortName
    enabled: true
    webhookReceivers: aadConfigured ? [aadReceiver] : (keyConfigured ? [keyReceiver] : [])
    emailReceivers: [for (address, i) in operatorEmails: {
      name: 'operator-${i}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
  }
}

output actionGroupId string = actionGroup.id
output webhookConfigured bool = aadConfigured || keyConfigured
