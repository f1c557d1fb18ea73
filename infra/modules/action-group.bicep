// Azure Monitor action group that posts alerts (common alert schema) to the ppg-dr HTTP alert route /api/alerts.
// aad mode (default): secure webhook. Azure Monitor obtains an Entra token for the ppg-dr alert API application
// (audience = aadIdentifierUri) and sends it as a Bearer token; the app validates it (PPGDR_ALERT_AUTH_MODE=aad);
// nothing secret is stored anywhere.
// functionKey mode: the function key is passed as a @secure() parameter and only ever placed in the receiver URL.
// main.bicep refuses a deployment whose mode lacks its credentials (fail()), so the one webhook receiver always
// exists: a DR tool whose alarm wire is silently cut is worse than none.
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

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: groupShortName
    enabled: true
    webhookReceivers: authMode == 'aad' ? [aadReceiver] : [keyReceiver]
    emailReceivers: [for (address, i) in operatorEmails: {
      name: 'operator-${i}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
  }
}

output actionGroupId string = actionGroup.id
