// Registers the bot's messaging endpoint with Azure Bot Service and connects it to Microsoft Teams.
// New bots are SingleTenant (or UserAssignedMSI): Azure stopped creating MultiTenant bots in 2025.

@maxLength(42)
param botDisplayName string

param botServiceName string

@allowed([ 'F0', 'S1' ])
param botServiceSku string = 'F0'

@description('Entra app (client) id of the bot, created by botAadApp/create')
param botAadAppClientId string

@allowed([ 'SingleTenant', 'UserAssignedMSI' ])
param botAppType string = 'SingleTenant'

@description('Tenant of the bot\'s Entra app (the Microsoft 365 tenant)')
param botAppTenantId string

@description('Host name of the bot\'s HTTPS endpoint (no scheme)')
param botAppDomain string

param appInsightsInstrumentationKey string = ''
param appInsightsApplicationId string = ''

resource botService 'Microsoft.BotService/botServices@2022-09-15' = {
  name: botServiceName
  kind: 'azurebot'
  location: 'global'
  sku: {
    name: botServiceSku
  }
  properties: {
    displayName: botDisplayName
    endpoint: 'https://${botAppDomain}/api/messages'
    msaAppId: botAadAppClientId
    msaAppType: botAppType
    msaAppTenantId: botAppTenantId
    developerAppInsightKey: appInsightsInstrumentationKey
    developerAppInsightsApplicationId: appInsightsApplicationId
  }
}

resource teamsChannel 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: botService
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
    }
  }
}

output botServiceName string = botService.name
