// Azure resources for the Foundry Agent Teams bot (the "dev"/"prod" Toolkit environments; see teamsapp.yml and
// docs/deploy.md). Deployed into AZURE_RESOURCE_GROUP_NAME by the Toolkit's arm/deploy action, with
// azure.parameters.json (teamsapp.yml, app mode: no SSO app parameters) or azure.parameters.user.json
// (teamsapp.user.yml, user mode: foundryAuth 'user' and the SSO app's id, tenant and secret).
//
// What it creates:
//   - a user-assigned managed identity: the bot's identity for Bot Framework (msaAppType UserAssignedMSI),
//     for Azure Blob Storage and, in FOUNDRY_AUTH=app mode, for Azure AI Foundry. No client secret exists.
//   - a Linux App Service plan + Web App (Node 22 LTS) running the bot with that identity;
//   - a storage account with the `botstate` container (conversation state, pending approvals/consents),
//     Storage Blob Data Contributor for the identity, shared-key access off;
//   - the Azure Bot registration with the Teams channel (botRegistration/azurebot.bicep);
//   - optionally, "Azure AI User" for the identity on the existing Foundry project (modules/foundry-access.bicep),
//     deployed into the Foundry resource group when foundryResourceGroupName is given.
//
// Outputs are written to env/.env.<env> by the Toolkit (BOT_ID, BOT_DOMAIN, ...).

@maxLength(20)
@minLength(4)
@description('Used to generate names for all resources in this file')
param resourceBaseName string

@maxLength(42)
@description('Display name of the Azure Bot resource')
param botDisplayName string

@description('Azure AI Foundry project endpoint, https://<account>.services.ai.azure.com/api/projects/<project>')
param foundryProjectEndpoint string

@description('Name of the Foundry agent the bot relays to')
param foundryAgentName string

@allowed([
  'app'
  'user'
])
@description('app: the bot calls Foundry as its managed identity (shared consent); user: on-behalf-of the Teams user (SSO)')
param foundryAuth string = 'app'

@description('Resource group of the Foundry account; empty = skip the Azure AI User role assignment (assign it by hand)')
param foundryResourceGroupName string = ''

@description('Subscription of the Foundry account; empty = this deployment\'s subscription')
param foundrySubscriptionId string = ''

@description('Foundry (Microsoft.CognitiveServices) account name; empty = taken from the endpoint host')
param foundryAccountName string = ''

@description('Foundry project name; empty = taken from the endpoint path')
param foundryProjectName string = ''

@description('Entra app used for Teams SSO and on-behalf-of (FOUNDRY_AUTH=user)')
param aadAppClientId string = ''

@description('Tenant of the SSO Entra app')
param aadAppTenantId string = ''

@secure()
@description('Client secret of the SSO Entra app; only written to the web app when foundryAuth is user')
param aadAppClientSecret string = ''

@description('Comma-separated tenant ids allowed to use the bot; empty = the bot\'s own tenant only')
param allowedTenants string = ''

@description('Comma-separated Entra object ids who may approve MCP tool calls in addition to the requester')
param approvers string = ''

@description('Comma-separated Entra object ids who may complete a shared (app-mode) consent; empty = nobody (the card says so)')
param sharedConsentAdmins string = ''

@description('App Service plan SKU (B1 is the smallest with Always On)')
param webAppSku string = 'B1'

param location string = resourceGroup().location
param serverfarmsName string = resourceBaseName
param webAppName string = resourceBaseName
@maxLength(24)
param storageAccountName string = toLower(take(replace('st${resourceBaseName}${uniqueString(resourceGroup().id)}', '-', ''), 24))
param stateContainerName string = 'botstate'

// Built-in role definition ids (stable across tenants).
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

var endpointHost = split(split(foundryProjectEndpoint, '://')[1], '/')[0]
var derivedAccountName = split(endpointHost, '.')[0]
var derivedProjectName = last(split(foundryProjectEndpoint, '/api/projects/'))

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: resourceBaseName
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource stateContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: stateContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource stateDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageBlobDataContributorRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource serverfarm 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: serverfarmsName
  location: location
  kind: 'linux'
  sku: {
    name: webAppSku
  }
  properties: {
    reserved: true // Linux
  }
}

resource webApp 'Microsoft.Web/sites@2023-12-01' = {
  name: webAppName
  location: location
  kind: 'app,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: serverfarm.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      linuxFxVersion: 'NODE|22-lts'
      appCommandLine: 'npm start'
      alwaysOn: true
      http20Enabled: true
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      healthCheckPath: '/healthz'
      appSettings: [
        {
          name: 'WEBSITE_RUN_FROM_PACKAGE'
          value: '1'
        }
        {
          name: 'SCM_DO_BUILD_DURING_DEPLOYMENT'
          value: 'false'
        }
        {
          name: 'NODE_ENV'
          value: 'production'
        }
        {
          name: 'PORT'
          value: '8080'
        }
        // Bot Framework identity = the managed identity (no secret).
        {
          name: 'BOT_ID'
          value: identity.properties.clientId
        }
        {
          name: 'BOT_TYPE'
          value: 'UserAssignedMsi'
        }
        {
          name: 'BOT_TENANT_ID'
          value: identity.properties.tenantId
        }
        // Empty ALLOWED_TENANTS would mean "any tenant" to the bot: default to the identity's own tenant.
        {
          name: 'ALLOWED_TENANTS'
          value: empty(allowedTenants) ? identity.properties.tenantId : allowedTenants
        }
        // Foundry.
        {
          name: 'FOUNDRY_PROJECT_ENDPOINT'
          value: foundryProjectEndpoint
        }
        {
          name: 'FOUNDRY_AGENT_NAME'
          value: foundryAgentName
        }
        {
          name: 'FOUNDRY_AUTH'
          value: foundryAuth
        }
        {
          name: 'FOUNDRY_CREDENTIAL'
          value: 'managed_identity'
        }
        {
          name: 'AZURE_CLIENT_ID'
          value: identity.properties.clientId
        }
        // Teams SSO + on-behalf-of (user mode only). Prefer a Key Vault reference for the secret in production
        // (docs/deploy.md); keyVaultReferenceIdentity above already points at the bot's identity.
        {
          name: 'AAD_APP_CLIENT_ID'
          value: foundryAuth == 'user' ? aadAppClientId : ''
        }
        {
          name: 'AAD_APP_TENANT_ID'
          value: foundryAuth == 'user' ? aadAppTenantId : ''
        }
        {
          name: 'AAD_APP_CLIENT_SECRET'
          value: foundryAuth == 'user' ? aadAppClientSecret : ''
        }
        // The bot's sign-in pages (https://<BOT_DOMAIN>/auth/start, /auth/end; docs/identity.md).
        {
          name: 'BOT_DOMAIN'
          value: '${webAppName}.azurewebsites.net'
        }
        // Policies.
        {
          name: 'APPROVERS'
          value: approvers
        }
        {
          name: 'SHARED_CONSENT_ADMINS'
          value: sharedConsentAdmins
        }
        // State shared by all instances.
        {
          name: 'STORAGE'
          value: 'blob'
        }
        {
          name: 'BLOB_ACCOUNT_URL'
          value: storage.properties.primaryEndpoints.blob
        }
        {
          name: 'BLOB_CONTAINER'
          value: stateContainerName
        }
      ]
    }
  }
}

// Register the web app as a bot with the Bot Framework, with the Teams channel.
module azureBotRegistration './botRegistration/azurebot.bicep' = {
  name: 'Azure-Bot-registration'
  params: {
    resourceBaseName: resourceBaseName
    botDisplayName: botDisplayName
    identityResourceId: identity.id
    identityClientId: identity.properties.clientId
    identityTenantId: identity.properties.tenantId
    botAppDomain: webApp.properties.defaultHostName
  }
}

// "Azure AI User" on the Foundry project, so the bot's identity may call the agent (FOUNDRY_AUTH=app).
// The deploying user needs Owner / User Access Administrator / Role Based Access Control Administrator there.
module foundryAccess './modules/foundry-access.bicep' = if (!empty(foundryResourceGroupName)) {
  name: 'Foundry-access-${resourceBaseName}'
  scope: resourceGroup(empty(foundrySubscriptionId) ? subscription().subscriptionId : foundrySubscriptionId, foundryResourceGroupName)
  params: {
    accountName: empty(foundryAccountName) ? derivedAccountName : foundryAccountName
    projectName: empty(foundryProjectName) ? derivedProjectName : foundryProjectName
    principalId: identity.properties.principalId
  }
}

// The outputs are persisted in env/.env.<env> by the Toolkit (https://aka.ms/teamsfx-actions/arm-deploy).
output AZURE_APP_SERVICE_RESOURCE_ID string = webApp.id
output BOT_DOMAIN string = webApp.properties.defaultHostName
output BOT_ENDPOINT string = 'https://${webApp.properties.defaultHostName}'
output BOT_ID string = identity.properties.clientId
output BOT_TENANT_ID string = identity.properties.tenantId
output BOT_MSI_RESOURCE_ID string = identity.id
output BOT_MSI_PRINCIPAL_ID string = identity.properties.principalId
output BLOB_ACCOUNT_URL string = storage.properties.primaryEndpoints.blob
