// The Event Grid subscriptions of ONE monitored subscription: its two system topics -> the app's functions.
// Deployed only in the second pass (deployEventSubscriptions=true): an AzureFunction destination is validated
// against the function app, so resource_events and health_events must already be published.
//
// Events are hints, the 15-minute reconcile is the truth (docs/decisions.md): a lost event only delays a reaction.
// Delivery is still made hard to lose and easy to see: Event Grid retries for 24 hours, then dead-letters the event
// into the app's storage account (an operator alert can watch the container), and server-side filters keep
// everything ppg-dr does not read away from the function (no execution billed for it).
targetScope = 'resourceGroup'

param functionAppId string
param armSystemTopicName string
param healthSystemTopicName string
param namePrefix string

@description('Resource id of the app\'s storage account (dead-letter destination).')
param deadLetterStorageAccountId string

param deadLetterContainerName string

// Event Grid's maximum: 30 attempts over 24 hours (exponential back-off), matching the app's event de-duplication
// window (PPGDR_EVENT_DEDUP_HOURS = 24).
var retryPolicy = {
  maxDeliveryAttempts: 30
  eventTimeToLiveInMinutes: 1440
}

// Undeliverable events land in the dead-letter container, written with the topic's own managed identity
// (Storage Blob Data Contributor on that container only, modules/rbac-dead-letter.bicep).
var deadLetter = {
  identity: {
    type: 'SystemAssigned'
  }
  deadLetterDestination: {
    endpointType: 'StorageBlob'
    properties: {
      resourceId: deadLetterStorageAccountId
      blobContainerName: deadLetterContainerName
    }
  }
}

resource armTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: armSystemTopicName
}

resource healthTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: healthSystemTopicName
}

// Resource (ARM) events: VM writes, deletes and actions, and tag writes through the Tags API.
resource armToFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
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
    deadLetterWithResourceIdentity: deadLetter
  }
}

// Resource Health events: availability status changes and annotations of VMs (the topic also carries every other
// resource type in the subscription; the subject filter drops them before delivery).
resource healthToFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
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
      advancedFilters: [
        {
          operatorType: 'StringContains'
          key: 'subject'
          values: [
            'Microsoft.Compute/virtualMachines'
          ]
        }
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}
