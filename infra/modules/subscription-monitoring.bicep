// Per monitored subscription: a resource group for the Event Grid system topics and alert rules, then the
// resource-group-scoped module that creates them. Deployed by main.bicep with scope: subscription(<id>).
// Holds no role assignment. The event subscriptions on these topics are main.bicep's second pass
// (modules/event-subscriptions.bicep).
targetScope = 'subscription'

param location string
param tags object
param resourceGroupName string
param actionGroupId string

@description('All VM resource group ids (any subscription); only those in this subscription are used here.')
param watchedResourceGroupIds array

param vmAlertRegions array
param armSystemTopicName string
param healthSystemTopicName string
param namePrefix string

var currentSubscriptionId = toLower(subscription().subscriptionId)
var localResourceGroupIds = filter(watchedResourceGroupIds, id => toLower(split(id, '/')[2]) == currentSubscriptionId)

resource monitoringRg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module events 'events.bicep' = {
  name: 'ppgdr-events-${uniqueString(subscription().id)}'
  scope: monitoringRg
  params: {
    tags: tags
    actionGroupId: actionGroupId
    watchedResourceGroupIds: localResourceGroupIds
    vmAlertRegions: vmAlertRegions
    armSystemTopicName: armSystemTopicName
    healthSystemTopicName: healthSystemTopicName
    namePrefix: namePrefix
  }
}

// The topics' identities, granted the dead-letter container by main.bicep before any event subscription exists.
output armTopicPrincipalId string = events.outputs.armTopicPrincipalId
output healthTopicPrincipalId string = events.outputs.healthTopicPrincipalId
