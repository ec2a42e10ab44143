// Azure resources for the report bot, deployed by `arm/deploy` in teamsapp.yml (provision, and again
// in deploy once the images exist):
//   bot     Container App with external HTTPS ingress (POST /api/messages), registered with Azure Bot
//   runner  Container App without ingress, scaled on the BullMQ wait and active lists (KEDA redis scaler)
//   Azure Cache for Redis (queue, locks, conversation references), Storage (the report archive with a
//   lifecycle rule), Key Vault (every secret; the containers reference it through their managed
//   identity), Container Registry, Log Analytics + Application Insights.
// Settings come from env/.env.<env> through infra/azure.parameters.json: `appSettings` (plain values)
// and `appSecrets` (stored in Key Vault). An empty value is left out, so the app uses its default.

@maxLength(20)
@minLength(4)
@description('Used to generate names for all resources in this file')
param resourceBaseName string

@maxLength(42)
param botDisplayName string

param location string = resourceGroup().location

@description('The app\'s plain settings by variable name (core/config.ts); empty values are left out')
param appSettings object

@secure()
@description('The app\'s secret settings by variable name (BOT_PASSWORD, CONNECTION_<NAME>, …): stored in Key Vault')
param appSecrets object

@description('Image of the bot; empty until the first deploy builds it (a placeholder runs meanwhile)')
param botImage string = ''

@description('Image of the runner; empty until the first deploy builds it')
param runnerImage string = ''

@minValue(1)
@maxValue(30)
param runnerMaxReplicas int = 4

@description('Days a run\'s files stay in the archive: the outer bound behind the app\'s per-report retention')
@minValue(1)
param archiveRetentionDays int = 90

@allowed([ 'Basic', 'Standard', 'Premium' ])
@description('Standard keeps a replica (Basic loses the queue on a restart); Premium adds persistence')
param redisSkuName string = 'Standard'

@minValue(0)
@maxValue(6)
param redisCapacity int = 1

@allowed([ 'F0', 'S1' ])
param botServiceSku string = 'F0'

// Global names must be unique across Azure: a stable suffix per resource group.
var suffix = take(uniqueString(resourceGroup().id), 6)
var compactName = toLower(replace(resourceBaseName, '-', ''))
var botAppName = '${resourceBaseName}-bot'
var runnerAppName = '${resourceBaseName}-runner'
var botPort = 3978
// Must equal RUNNER_PORT: the runner's /healthz, /readyz and /metrics.
var runnerPort = int(appSettings.RUNNER_PORT)
var placeholderImage = 'mcr.microsoft.com/k8se/quickstart:latest'
var botImageReady = !empty(botImage)
var runnerImageReady = !empty(runnerImage)

// BullMQ keys are `<prefix>:<queue>:<list>`; jobs wait in `wait` and are worked on in `active`.
var queueKey = '${appSettings.REDIS_PREFIX}:${appSettings.QUEUE_NAME}'

// Settings the template owns, whatever the env file says.
var platformSettings = {
  PORT: string(botPort)
}
// Secrets the template derives from the resources it creates (Key Vault secret names).
var platformSecrets = {
  REDIS_URL: 'redis-url'
  BLOB_CONNECTION_STRING: 'blob-connection-string'
}

var plainSettings = filter(items(appSettings), s => !empty(s.value))
var secretSettings = filter(items(appSecrets), s => !empty(s.value))

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${resourceBaseName}-id'
  location: location
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${resourceBaseName}-logs'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${resourceBaseName}-ai'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

// ---- the report archive ----

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take('${compactName}${suffix}', 24)
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Download links are SAS URLs signed with the account key.
    allowSharedKeyAccess: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource archiveContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: appSettings.BLOB_CONTAINER
  properties: {
    publicAccess: 'None'
  }
}

// Runs live under runs/<reportId>/<runId>/. The app removes expired runs per report (and logs it);
// this rule is the backstop, so it must be at least the longest per-report retention.
resource archiveLifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-archived-runs'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [ 'blockBlob' ]
              prefixMatch: [ '${appSettings.BLOB_CONTAINER}/runs/' ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: archiveRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [ archiveContainer ]
}

// ---- the queue ----

// BullMQ needs `noeviction`: an evicted job key is a lost request.
resource redis 'Microsoft.Cache/redis@2024-03-01' = {
  name: '${resourceBaseName}-${suffix}'
  location: location
  properties: {
    sku: {
      name: redisSkuName
      family: redisSkuName == 'Premium' ? 'P' : 'C'
      capacity: redisCapacity
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    redisConfiguration: {
      'maxmemory-policy': 'noeviction'
    }
  }
}

// ---- secrets ----

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('${resourceBaseName}-${suffix}', 24)
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
  }
}

resource appSecretValues 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for s in secretSettings: {
  parent: keyVault
  name: toLower(replace(s.key, '_', '-'))
  properties: {
    value: s.value
  }
}]

resource redisUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: platformSecrets.REDIS_URL
  properties: {
    value: 'rediss://:${uriComponent(redis.listKeys().primaryKey)}@${redis.properties.hostName}:${redis.properties.sslPort}'
  }
}

// The KEDA redis scaler takes host and password separately.
resource redisPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: 'redis-password'
  properties: {
    value: redis.listKeys().primaryKey
  }
}

resource blobConnectionSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: platformSecrets.BLOB_CONNECTION_STRING
  properties: {
    value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'
  }
}

// Key Vault Secrets User: the containers read their secrets through the managed identity.
resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, identity.id, '4633458b-17de-408a-b874-0445c86b69e6')
  scope: keyVault
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
  }
}

// ---- images ----

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: '${compactName}${suffix}'
  location: location
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
  }
}

// AcrPull: the containers pull their images with the managed identity, no registry password.
resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, '7f951dce-6bd2-4cf5-ae3d-3dd3ee1a5f1c')
  scope: registry
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dce-6bd2-4cf5-ae3d-3dd3ee1a5f1c')
  }
}

// ---- compute ----

resource containerEnv 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${resourceBaseName}-env'
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

var botFqdn = '${botAppName}.${containerEnv.properties.defaultDomain}'

// Built from the vault's name rather than its runtime properties, so the lambdas below stay plain.
var vaultSecretsUrl = 'https://${keyVault.name}${environment().suffixes.keyvaultDns}/secrets/'

// Every variable the bot and the runner read: template-owned, plain, and Key Vault references.
// (Each piece on its own, so no function call spans several lines.)
var platformSecretRefs = map(items(platformSecrets), p => {
  name: p.value
  keyVaultUrl: '${vaultSecretsUrl}${p.value}'
  identity: identity.id
})
var redisPasswordRef = [
  {
    name: 'redis-password'
    keyVaultUrl: '${vaultSecretsUrl}redis-password'
    identity: identity.id
  }
]
var appSecretRefs = map(secretSettings, s => {
  name: toLower(replace(s.key, '_', '-'))
  keyVaultUrl: '${vaultSecretsUrl}${toLower(replace(s.key, '_', '-'))}'
  identity: identity.id
})
var containerSecrets = concat(platformSecretRefs, redisPasswordRef, appSecretRefs)

var platformEnv = map(items(platformSettings), p => { name: p.key, value: p.value })
// PUBLIC_BASE_URL defaults to the bot's own HTTPS address; set it in the env file for a custom domain.
var publicBaseUrlEnv = empty(appSettings.?PUBLIC_BASE_URL ?? '') ? [ { name: 'PUBLIC_BASE_URL', value: 'https://${botFqdn}' } ] : []
var plainEnv = map(plainSettings, s => { name: s.key, value: string(s.value) })
var platformSecretEnv = map(items(platformSecrets), p => { name: p.key, secretRef: p.value })
var appSecretEnv = map(secretSettings, s => { name: s.key, secretRef: toLower(replace(s.key, '_', '-')) })
var containerEnvVars = concat(platformEnv, publicBaseUrlEnv, plainEnv, platformSecretEnv, appSecretEnv)

resource botApp 'Microsoft.App/containerApps@2024-03-01' = {
  name: botAppName
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    managedEnvironmentId: containerEnv.id
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        // The placeholder image listens on 80 until the first deploy.
        targetPort: botImageReady ? botPort : 80
        transport: 'auto'
        allowInsecure: false
      }
      registries: [
        {
          server: registry.properties.loginServer
          identity: identity.id
        }
      ]
      secrets: containerSecrets
    }
    template: {
      containers: [
        {
          name: 'bot'
          image: botImageReady ? botImage : placeholderImage
          env: containerEnvVars
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          probes: botImageReady ? [
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: botPort
              }
              periodSeconds: 20
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: botPort
              }
              periodSeconds: 10
            }
          ] : []
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: 3
        rules: [
          {
            name: 'http'
            http: {
              metadata: {
                concurrentRequests: '50'
              }
            }
          }
        ]
      }
    }
  }
  dependsOn: [ secretsUser, acrPull, appSecretValues, redisUrlSecret, redisPasswordSecret, blobConnectionSecret ]
}

resource runnerApp 'Microsoft.App/containerApps@2024-03-01' = {
  name: runnerAppName
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    managedEnvironmentId: containerEnv.id
    configuration: {
      activeRevisionsMode: 'Single'
      registries: [
        {
          server: registry.properties.loginServer
          identity: identity.id
        }
      ]
      secrets: containerSecrets
    }
    template: {
      // SIGTERM on scale-in: the runner finishes or hands back its running job within this time.
      terminationGracePeriodSeconds: 300
      containers: [
        {
          name: 'runner'
          image: runnerImageReady ? runnerImage : placeholderImage
          env: containerEnvVars
          // Large workbooks: exceljs keeps a few hundred bytes per row until a sheet is committed.
          resources: {
            cpu: json('1.0')
            memory: '2Gi'
          }
          probes: runnerImageReady ? [
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: runnerPort
              }
              periodSeconds: 20
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: runnerPort
              }
              periodSeconds: 10
            }
          ] : []
        }
      ]
      scale: {
        // At least one runner: BullMQ workers also promote delayed retries and recover stalled jobs.
        minReplicas: 1
        maxReplicas: runnerMaxReplicas
        // KEDA takes the larger of the two: waiting jobs ask for runners, running jobs keep theirs.
        rules: [
          {
            name: 'queue-waiting'
            custom: {
              type: 'redis'
              metadata: {
                address: '${redis.properties.hostName}:${redis.properties.sslPort}'
                listName: '${queueKey}:wait'
                listLength: string(appSettings.RUNNER_CONCURRENCY)
                enableTLS: 'true'
              }
              auth: [
                {
                  secretRef: 'redis-password'
                  triggerParameter: 'password'
                }
              ]
            }
          }
          {
            name: 'queue-active'
            custom: {
              type: 'redis'
              metadata: {
                address: '${redis.properties.hostName}:${redis.properties.sslPort}'
                listName: '${queueKey}:active'
                listLength: string(appSettings.RUNNER_CONCURRENCY)
                enableTLS: 'true'
              }
              auth: [
                {
                  secretRef: 'redis-password'
                  triggerParameter: 'password'
                }
              ]
            }
          }
        ]
      }
    }
  }
  dependsOn: [ secretsUser, acrPull, appSecretValues, redisUrlSecret, redisPasswordSecret, blobConnectionSecret ]
}

module azureBotRegistration './botRegistration/azurebot.bicep' = {
  name: 'Azure-Bot-registration'
  params: {
    botServiceName: '${resourceBaseName}-${suffix}'
    botServiceSku: botServiceSku
    botDisplayName: botDisplayName
    botAadAppClientId: appSettings.BOT_ID
    botAppType: appSettings.BOT_TYPE
    botAppTenantId: appSettings.BOT_TENANT_ID
    botAppDomain: botFqdn
    appInsightsInstrumentationKey: appInsights.properties.InstrumentationKey
    appInsightsApplicationId: appInsights.properties.AppId
  }
}

// Written to env/.env.<env> by arm/deploy (see https://aka.ms/teamsfx-actions/arm-deploy).
output BOT_DOMAIN string = botFqdn
output BOT_ENDPOINT string = 'https://${botFqdn}'
output AZURE_CONTAINER_REGISTRY_NAME string = registry.name
output AZURE_KEY_VAULT_NAME string = keyVault.name
