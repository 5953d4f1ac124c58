// Grants "Azure AI User" on an existing Azure AI Foundry project to a principal (the bot's managed identity),
// so that the bot can call the project's agents in FOUNDRY_AUTH=app mode. azure.bicep deploys this module into
// the Foundry account's resource group (which may be in another subscription).
//
// The role is the least-privileged built-in role with the Foundry data actions (Microsoft.CognitiveServices/*
// data actions, reader on the account and project). It has been renamed "Foundry User" in newer portal builds;
// the role definition id is unchanged.

@description('Foundry resource (Microsoft.CognitiveServices/accounts, kind AIServices) name')
param accountName string

@description('Foundry project name under that account')
param projectName string

@description('Object (principal) id of the identity to grant')
param principalId string

@description('ServicePrincipal for managed identities')
param principalType string = 'ServicePrincipal'

var azureAiUserRoleId = '53ca6127-db72-4b80-b1b0-d745d6d5456d' // Azure AI User (Foundry User)

resource account 'Microsoft.CognitiveServices/accounts@2025-06-01' existing = {
  name: accountName
}

resource project 'Microsoft.CognitiveServices/accounts/projects@2025-06-01' existing = {
  parent: account
  name: projectName
}

resource azureAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(project.id, principalId, azureAiUserRoleId)
  scope: project
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', azureAiUserRoleId)
    principalId: principalId
    principalType: principalType
  }
}

output roleAssignmentId string = azureAiUser.id
