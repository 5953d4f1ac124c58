// Azure Bot registration for the bot's user-assigned managed identity, with the Microsoft Teams channel.
// azure.bicep deploys this module; deploy it on its own only when the bot is hosted outside Azure App Service.

@maxLength(20)
@minLength(4)
@description('Used to generate names for all resources in this file')
param resourceBaseName string

@maxLength(42)
param botDisplayName string

param botServiceName string = resourceBaseName

@description('F0 (free) covers the Teams channel; S1 only matters for premium channels')
param botServiceSku string = 'F0'

@description('Resource id of the user-assigned managed identity the bot authenticates as')
param identityResourceId string

@description('Client id of that identity (the bot\'s app id, BOT_ID)')
param identityClientId string

@description('Tenant of that identity')
param identityTenantId string

@description('Host name of the web app, without scheme')
param botAppDomain string

resource botService 'Microsoft.BotService/botServices@2022-09-15' = {
  kind: 'azurebot'
  location: 'global'
  name: botServiceName
  sku: {
    name: botServiceSku
  }
  properties: {
    displayName: botDisplayName
    endpoint: 'https://${botAppDomain}/api/messages'
    msaAppId: identityClientId
    msaAppMSIResourceId: identityResourceId
    msaAppTenantId: identityTenantId
    msaAppType: 'UserAssignedMSI'
    disableLocalAuth: false
  }
}

// Connect the bot to Microsoft Teams.
resource botServiceMsTeamsChannel 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: botService
  location: 'global'
  name: 'MsTeamsChannel'
  properties: {
    channelName: 'MsTeamsChannel'
  }
}

output botServiceId string = botService.id
