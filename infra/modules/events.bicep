// Event sources and alert rules for ONE subscription (deployed in a resource group of that subscription):
//   - Event Grid system topic on the subscription (Microsoft.Resources.Subscriptions) -> resource_events function
//   - Event Grid system topic for Resource Health (Microsoft.ResourceNotifications.HealthResources) -> health_events
//   - VmAvailabilityMetric metric alert(s) and a Resource Health activity log alert -> action group -> /api/alerts
// Events are hints (the timer reconcile is the truth): no dead-lettering, a lost event is repaired on the next tick.
targetScope = 'resourceGroup'

param tags object
param functionAppId string
param actionGroupId string
param deployEventSubscriptions bool

@description('VM resource group ids in THIS subscription (alert scopes).')
param watchedResourceGroupIds array

param vmAlertRegions array
param armSystemTopicName string
param healthSystemTopicName string
param namePrefix string

var retryPolicy = {
  maxDeliveryAttempts: 30
  eventTimeToLiveInMinutes: 1440
}

// ---------------------------------------------------------------------------------------------------------------
// Resource (ARM) events: VM writes/deletes/actions and tag writes
// ---------------------------------------------------------------------------------------------------------------

resource armTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: armSystemTopicName
  location: 'global'
  tags: tags
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource armToFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (deployEventSubscriptions) {
  parent: armTopic
  name: '${namePrefix}-resource-events'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/resource_events'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
        'Microsoft.Resources.ResourceActionSuccess'
      ]
      // Values of one StringContains filter are OR-ed: VM operations, or tag writes through the Tags API
      // (subject .../providers/Microsoft.Resources/tags/default).
      advancedFilters: [
        {
          operatorType: 'StringContains'
          key: 'subject'
          values: [
            'Microsoft.Compute/virtualMachines'
            'Microsoft.Resources/tags'
          ]
        }
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: retryPolicy
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Resource Health events (VM availability status changes and annotations)
// ---------------------------------------------------------------------------------------------------------------

resource healthTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: healthSystemTopicName
  location: 'global'
  tags: tags
  properties: {
    source: subscription().id
    topicType: 'Microsoft.ResourceNotifications.HealthResources'
  }
}

resource healthToFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (deployEventSubscriptions) {
  parent: healthTopic
  name: '${namePrefix}-health-events'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/health_events'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged'
        'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated'
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: retryPolicy
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
