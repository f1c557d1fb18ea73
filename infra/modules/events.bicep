// Event sources and alert rules for ONE subscription (deployed in a resource group of that subscription):
//   - Event Grid system topic on the subscription (Microsoft.Resources.Subscriptions), for resource_events
//   - Event Grid system topic for Resource Health (Microsoft.ResourceNotifications.HealthResources), for health_events
//   - VmAvailabilityMetric metric alert(s) and a Resource Health activity log alert -> action group -> /api/alerts
// The event subscriptions themselves are modules/event-subscriptions.bicep (second pass, once the code is published);
// the topics exist from the first pass so their identities can be granted the dead-letter container before.
targetScope = 'resourceGroup'

param tags object
param actionGroupId string

@description('VM resource group ids in THIS subscription (alert scopes).')
param watchedResourceGroupIds array

param vmAlertRegions array
param armSystemTopicName string
param healthSystemTopicName string
param namePrefix string

// ---------------------------------------------------------------------------------------------------------------
// Resource (ARM) events: VM writes/deletes/actions and tag writes
// ---------------------------------------------------------------------------------------------------------------

// A system-assigned identity writes undeliverable events to the dead-letter container (the account has no keys).
resource armTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: armSystemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Resource Health events (VM availability status changes and annotations)
// ---------------------------------------------------------------------------------------------------------------

resource healthTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: healthSystemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.ResourceNotifications.HealthResources'
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Alert rules -> action group -> /api/alerts (common alert schema)
// ---------------------------------------------------------------------------------------------------------------

// Multi-resource metric alert: every VM of the region inside the watched resource groups. One rule per region
// because multi-resource metric alerts require a single targetResourceRegion.
resource vmAvailability 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for region in (empty(watchedResourceGroupIds) ? [] : vmAlertRegions): {
    name: '${namePrefix}-vm-availability-${region}'
    location: 'global'
    tags: tags
    properties: {
      description: 'ppg-dr signal: VM availability (VmAvailabilityMetric) below 1 in ${region}. One signal among several; the decision engine needs a quorum.'
      severity: 1
      enabled: true
      scopes: watchedResourceGroupIds
      evaluationFrequency: 'PT1M'
      windowSize: 'PT5M'
      autoMitigate: true
      targetResourceType: 'Microsoft.Compute/virtualMachines'
      targetResourceRegion: region
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: 'VmUnavailable'
            metricNamespace: 'Microsoft.Compute/virtualMachines'
            metricName: 'VmAvailabilityMetric'
            operator: 'LessThan'
            threshold: 1
            timeAggregation: 'Average'
          }
        ]
      }
      actions: [
        {
          actionGroupId: actionGroupId
        }
      ]
    }
  }
]

// Every Resource Health transition of a VM in the watched resource groups (including recoveries, so the decision
// engine can clear a signal as well as raise one).
resource vmResourceHealth 'Microsoft.Insights/activityLogAlerts@2020-10-01' = if (!empty(watchedResourceGroupIds)) {
  name: '${namePrefix}-vm-resource-health'
  location: 'global'
  tags: tags
  properties: {
    description: 'ppg-dr signal: Resource Health status change of a VM in a protected or target resource group.'
    enabled: true
    scopes: watchedResourceGroupIds
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'ResourceHealth'
        }
        {
          field: 'resourceType'
          equals: 'Microsoft.Compute/virtualMachines'
        }
      ]
    }
    actions: {
      actionGroups: [
        {
          actionGroupId: actionGroupId
        }
      ]
    }
  }
}

output armSystemTopicId string = armTopic.id
output healthSystemTopicId string = healthTopic.id
output armTopicPrincipalId string = armTopic.identity.principalId
output healthTopicPrincipalId string = healthTopic.identity.principalId
