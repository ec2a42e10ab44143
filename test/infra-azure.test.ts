/**
 * infra/azure.bicep and infra/azure.parameters.json. Bicep cannot be compiled on these machines, so
 * this checks what can be checked as text: parameters against declarations (both ways), the settings
 * the containers get against core/config.ts, and the few facts the app depends on (BullMQ's list
 * names for scaling, the archive's blob prefix for the lifecycle rule, Redis' eviction policy).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueKeys } from 'bullmq';
import { Archive } from '../core/archive.ts';
import {
  awaitedRoutes, bicepModules, bicepObjectVar, bicepOutputs, bicepParams, bicepResources, codeVariables,
  CONNECTION_VAR, isCodeVariable, read, readArmParameters, readEnvFile, routeInCode,
} from './harness/infra.ts';

const TEMPLATE = 'infra/azure.bicep';
const PARAMETERS = 'infra/azure.parameters.json';
const bicep = read(TEMPLATE);
const parameters = readArmParameters(PARAMETERS).parameters;
const appSettings = parameters.appSettings?.value as Record<string, string>;
const appSecrets = parameters.appSecrets?.value as Record<string, string>;

test('the parameters file sets exactly the template\'s parameters, and every required one', () => {
  const declared = bicepParams(TEMPLATE);
  const names = new Set(declared.map((p) => p.name));
  const given = Object.keys(parameters);
  const unknown = given.filter((n) => !names.has(n));
  const missing = declared.filter((p) => !p.hasDefault && !(p.name in parameters)).map((p) => p.name);
  assert.deepEqual({ unknown, missing }, { unknown: [], missing: [] }, `${PARAMETERS}: not declared ${unknown.join(', ') || '-'}; required but unset ${missing.join(', ') || '-'}`);
  for (const [name, p] of Object.entries(parameters)) {
    assert.ok('value' in p, `${name}: a value (Key Vault references are not used here)`);
    assert.notEqual(p.value, '', `${name}: an empty value for a parameter is a toolkit placeholder gone wrong`);
  }
  assert.equal(declared.find((p) => p.name === 'appSecrets')?.secure, true, 'appSecrets is @secure()');
  assert.equal(declared.find((p) => p.name === 'appSettings')?.type, 'object');
});

test('every module is called with exactly the module\'s parameters', () => {
  const modules = bicepModules(TEMPLATE);
  assert.ok(modules.length > 0, 'the bot registration module');
  for (const m of modules) {
    const declared = bicepParams(m.path);
    const names = new Set(declared.map((p) => p.name));
    const unknown = m.params.filter((p) => !names.has(p));
    const missing = declared.filter((p) => !p.hasDefault && !m.params.includes(p.name)).map((p) => p.name);
    assert.deepEqual({ unknown, missing }, { unknown: [], missing: [] }, `${m.path}`);
  }
});

test('the containers get every variable the code reads, once: from the env file, from Key Vault, or from the template', () => {
  const platformSettings = [...bicepObjectVar(TEMPLATE, 'platformSettings').keys()];
  const platformSecrets = [...bicepObjectVar(TEMPLATE, 'platformSecrets').keys()];
  const sources: [string, string[]][] = [
    ['appSettings', Object.keys(appSettings)],
    ['appSecrets', Object.keys(appSecrets)],
    ['platformSettings', platformSettings],
    ['platformSecrets', platformSecrets],
  ];
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const [source, names] of sources) {
    for (const n of names) {
      if (seen.has(n)) problems.push(`${n} is set twice (${seen.get(n)} and ${source})`);
      seen.set(n, source);
      if (!isCodeVariable(n)) problems.push(`${source}.${n}: the code does not read it`);
    }
  }
  const missing = codeVariables().filter((v) => !seen.has(v));
  if (missing.length) problems.push(`not set for the containers (add to appSettings or appSecrets in ${PARAMETERS}): ${missing.join(', ')}`);
  assert.deepEqual(problems, [], problems.join('\n'));
});

/** Settings named *_URL that are public addresses, never credentials: plain settings are fine for them. */
const PUBLIC_URLS = new Set(['PUBLIC_BASE_URL', 'ACTIONS_JWKS_URL', 'ACTIONS_OPENID_CONFIG_URL', 'GRAPH_BASE_URL']);

test('settings come from the env file by their own names, secrets only from SECRET_ names', () => {
  for (const [k, v] of Object.entries(appSettings)) assert.equal(v, `\${{${k}}}`, `appSettings.${k}`);
  for (const [k, v] of Object.entries(appSecrets)) assert.equal(v, `\${{SECRET_${k}}}`, `appSecrets.${k}`);
  // Connection strings and passwords are never plain settings.
  for (const k of Object.keys(appSettings)) {
    // A URL may carry credentials (REDIS_URL does) unless it is one of the known public addresses.
    const publicUrl = PUBLIC_URLS.has(k);
    assert.ok(!CONNECTION_VAR.test(k) && !/PASSWORD|SECRET|CONNECTION_STRING/.test(k) && (publicUrl || !/_URL$/.test(k)), `${k} belongs in appSecrets`);
  }
  // What the template reads from appSettings must be there.
  const used = new Set([...bicep.matchAll(/appSettings\.\??([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));
  for (const name of used) assert.ok(name in appSettings, `${TEMPLATE} reads appSettings.${name}, which ${PARAMETERS} does not set`);
  // The toolkit writes the template's outputs to env/.env.dev: they must be declared there.
  const dev = readEnvFile('env/.env.dev');
  for (const o of bicepOutputs(TEMPLATE)) assert.ok(dev.values.has(o), `output ${o} is not listed in env/.env.dev`);
  // env/.env.dev names what the template sets itself, and only that.
  const platform = [...bicepObjectVar(TEMPLATE, 'platformSettings').keys(), ...bicepObjectVar(TEMPLATE, 'platformSecrets').keys()];
  assert.deepEqual([...dev.provided].sort(), platform.sort(), 'the "# provided by infra/azure.bicep" line of env/.env.dev');
});

test('the resources the deployment needs are there, each with a dated API version', () => {
  const resources = [...bicepResources(TEMPLATE), ...bicepModules(TEMPLATE).flatMap((m) => bicepResources(m.path))];
  for (const r of resources) assert.match(r.apiVersion, /^\d{4}-\d{2}-\d{2}(-preview)?$/, r.type);
  const types = new Set(resources.map((r) => r.type));
  for (const t of [
    'Microsoft.BotService/botServices', 'Microsoft.BotService/botServices/channels', 'Microsoft.App/managedEnvironments',
    'Microsoft.App/containerApps', 'Microsoft.Cache/redis', 'Microsoft.Storage/storageAccounts',
    'Microsoft.Storage/storageAccounts/blobServices/containers', 'Microsoft.Storage/storageAccounts/managementPolicies',
    'Microsoft.KeyVault/vaults', 'Microsoft.KeyVault/vaults/secrets', 'Microsoft.Insights/components',
    'Microsoft.OperationalInsights/workspaces', 'Microsoft.ManagedIdentity/userAssignedIdentities',
    'Microsoft.ContainerRegistry/registries', 'Microsoft.Authorization/roleAssignments',
  ]) assert.ok(types.has(t), `${t} is declared`);
  assert.match(read('infra/botRegistration/azurebot.bicep'), /channelName: 'MsTeamsChannel'/);
  // Azure no longer creates MultiTenant bots.
  assert.doesNotMatch(read('infra/botRegistration/azurebot.bicep'), /'MultiTenant'/);
  assert.ok(['SingleTenant', 'UserAssignedMSI'].includes(readEnvFile('env/.env.dev').values.get('BOT_TYPE') ?? ''), 'env/.env.dev BOT_TYPE');
});

test('the runners scale on BullMQ\'s own wait and active lists', () => {
  const queueKey = /var queueKey = '\$\{appSettings\.REDIS_PREFIX\}:\$\{appSettings\.QUEUE_NAME\}'/.exec(bicep);
  assert.ok(queueKey, 'queueKey is <REDIS_PREFIX>:<QUEUE_NAME>');
  const lists = [...bicep.matchAll(/listName: '\$\{queueKey\}:(\w+)'/g)].map((m) => m[1]);
  assert.deepEqual(lists.sort(), ['active', 'wait']);
  // The same formula as BullMQ's, for the values in env/.env.dev.
  const dev = readEnvFile('env/.env.dev').values;
  const prefix = dev.get('REDIS_PREFIX')!;
  const queue = dev.get('QUEUE_NAME')!;
  const keys = new QueueKeys(prefix);
  for (const list of lists) assert.equal(keys.toKey(queue, list), `${prefix}:${queue}:${list}`);
  assert.match(bicep, /listLength: string\(appSettings\.RUNNER_CONCURRENCY\)/);
  assert.match(bicep, /minReplicas: 1\n\s+maxReplicas: runnerMaxReplicas/, 'never zero runners: workers promote delayed retries');
  assert.match(bicep, /'maxmemory-policy': 'noeviction'/, 'BullMQ needs noeviction');
  assert.match(bicep, /enableNonSslPort: false/);
});

test('the archive lifecycle rule covers the blobs the archive writes, after the retention', () => {
  const blob = Archive.blobName('trial-balance', 'run-1', 'book.xlsx');
  const prefix = /prefixMatch: \[ '\$\{appSettings\.BLOB_CONTAINER\}\/([^']*)' \]/.exec(bicep);
  assert.ok(prefix, 'the rule filters on <BLOB_CONTAINER>/<prefix>');
  assert.ok(blob.startsWith(prefix[1]), `${blob} starts with ${prefix[1]}`);
  assert.match(bicep, /daysAfterModificationGreaterThan: archiveRetentionDays/);
  assert.equal(/param archiveRetentionDays int = (\d+)/.exec(bicep)?.[1], '90');
});

test('probes point at routes the code serves, on the ports the settings name', () => {
  const paths = [...bicep.matchAll(/path: '(\/[a-z]+)'/g)].map((m) => m[1]);
  assert.deepEqual([...new Set(paths)].sort(), ['/healthz', '/readyz']);
  const awaited = new Set(awaitedRoutes());
  for (const p of new Set(paths)) assert.ok(routeInCode(p) || awaited.has(p), `${p} is served by the code`);
  assert.equal(bicepObjectVar(TEMPLATE, 'platformSettings').get('PORT'), 'string(botPort)');
  assert.match(bicep, /var botPort = 3978\n/);
  assert.match(bicep, /var runnerPort = int\(appSettings\.RUNNER_PORT\)/);
  assert.match(bicep, /targetPort: botImageReady \? botPort : 80/);
});
