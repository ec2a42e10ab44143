/**
 * teamsapp.yml and teamsapp.local.yml: the toolkit's schema version, the actions and their inputs,
 * the files they point at. The toolkit's JSON schema is not installed here, so the rules for the
 * actions this project uses are restated from the toolkit's v1.11 yaml.schema.json (required and
 * allowed inputs, and the SECRET_ naming of secret outputs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import {
  actions, exists, read, readToolkitProject, ROOT, routeInCode, scriptFiles, type ToolkitAction, type ToolkitProject,
} from './harness/infra.ts';

const VERSION = 'v1.11';
const MANIFEST = './teamsapp/manifest.json';

interface ActionRule {
  required: string[];
  allowed: string[];
  writes?: { required: string[]; allowed: string[]; secret?: string[] };
}

/** From the toolkit's yaml.schema.json (v1.11): inputs of the actions used here. */
const RULES: Record<string, ActionRule> = {
  'teamsApp/create': { required: ['name'], allowed: ['name'], writes: { required: ['teamsAppId'], allowed: ['teamsAppId', 'teamsAppTenantId'] } },
  'botAadApp/create': { required: ['name'], allowed: ['name'], writes: { required: ['botId', 'botPassword'], allowed: ['botId', 'botPassword'], secret: ['botPassword'] } },
  'arm/deploy': { required: ['subscriptionId', 'resourceGroupName', 'templates'], allowed: ['subscriptionId', 'resourceGroupName', 'templates', 'bicepCliVersion'] },
  'teamsApp/validateManifest': { required: ['manifestPath'], allowed: ['manifestPath'] },
  'teamsApp/zipAppPackage': { required: ['manifestPath', 'outputZipPath', 'outputFolder'], allowed: ['manifestPath', 'outputZipPath', 'outputFolder'] },
  'teamsApp/validateAppPackage': { required: ['appPackagePath'], allowed: ['appPackagePath'] },
  'teamsApp/update': { required: ['appPackagePath'], allowed: ['appPackagePath'] },
  'teamsApp/publishAppPackage': { required: ['appPackagePath'], allowed: ['appPackagePath'], writes: { required: ['publishedAppId'], allowed: ['publishedAppId'] } },
  'botFramework/create': { required: ['botId', 'name', 'messagingEndpoint'], allowed: ['botId', 'name', 'messagingEndpoint', 'description', 'iconUrl', 'channels'] },
  'file/createOrUpdateEnvironmentFile': { required: ['envs', 'target'], allowed: ['envs', 'target'] },
  'cli/runNpmCommand': { required: ['args'], allowed: ['args', 'workingDirectory'] },
  script: { required: ['run'], allowed: ['run', 'workingDirectory', 'shell', 'timeout', 'redirectTo'] },
};
const ACTION_KEYS = ['uses', 'name', 'env', 'with', 'writeToEnvironmentFile'];

function checkAction(file: string, stage: string, i: number, a: ToolkitAction): string[] {
  const at = `${file} ${stage}[${i}] ${a.uses}`;
  const rule = RULES[a.uses];
  if (!rule) return [`${at}: not an action this test knows (add its rule from the toolkit schema)`];
  const problems: string[] = [];
  for (const k of Object.keys(a)) if (!ACTION_KEYS.includes(k)) problems.push(`${at}: unknown key ${k}`);
  const inputs = a.with ?? {};
  for (const k of rule.required) if (inputs[k] === undefined || inputs[k] === '') problems.push(`${at}: with.${k} is required`);
  for (const k of Object.keys(inputs)) if (!rule.allowed.includes(k)) problems.push(`${at}: with.${k} is not an input of this action`);
  const writes = a.writeToEnvironmentFile;
  if (rule.writes) {
    if (!writes) problems.push(`${at}: writeToEnvironmentFile is required`);
    for (const k of rule.writes.required) if (!writes?.[k]) problems.push(`${at}: writeToEnvironmentFile.${k} is required`);
    for (const [k, v] of Object.entries(writes ?? {})) {
      if (!rule.writes.allowed.includes(k)) problems.push(`${at}: writeToEnvironmentFile.${k} is not an output of this action`);
      const pattern = rule.writes.secret?.includes(k) ? /^SECRET_[A-Z0-9_]+$/ : /^[A-Z][A-Z0-9_]*$/;
      if (!pattern.test(v)) problems.push(`${at}: writeToEnvironmentFile.${k} = ${v} must match ${pattern}`);
    }
  } else if (writes) {
    problems.push(`${at}: writes no environment variables`);
  }
  return problems;
}

function stageUses(p: ToolkitProject, stage: 'provision' | 'deploy' | 'publish'): string[] {
  return (p.doc[stage] ?? []).map((a) => a.uses);
}

for (const file of ['teamsapp.yml', 'teamsapp.local.yml']) {
  test(`${file}: current schema version, every action and input known to the toolkit`, () => {
    const p = readToolkitProject(file);
    assert.equal(p.doc.version, VERSION);
    assert.equal(p.text.split('\n')[0], `# yaml-language-server: $schema=https://aka.ms/m365-agents-toolkits/${VERSION}/yaml.schema.json`);
    assert.equal(p.doc.environmentFolderPath, './env');
    const allowedTop = ['version', 'environmentFolderPath', 'provision', 'deploy', 'publish', 'projectId', 'additionalMetadata'];
    for (const k of Object.keys(p.doc)) assert.ok(allowedTop.includes(k), `${file}: unknown top-level key ${k}`);
    const problems = (['provision', 'deploy', 'publish'] as const).flatMap((stage) =>
      (p.doc[stage] ?? []).flatMap((a, i) => checkAction(file, stage, i, a)));
    assert.deepEqual(problems, []);
  });

  test(`${file}: the app package comes from ${MANIFEST} and is zipped, validated and applied in that order`, () => {
    const p = readToolkitProject(file);
    for (const a of actions(p)) {
      if ('manifestPath' in (a.with ?? {})) assert.equal(a.with?.manifestPath, MANIFEST, `${a.uses} manifestPath`);
    }
    for (const stage of ['provision', 'publish'] as const) {
      const list = p.doc[stage] ?? [];
      let zip: string | undefined;
      for (const a of list) {
        if (a.uses === 'teamsApp/zipAppPackage') {
          zip = String(a.with?.outputZipPath);
          assert.match(zip, /^\.\/teamsapp\/build\//, 'the package is built under teamsapp/build (git-ignored)');
          assert.equal(a.with?.outputFolder, './teamsapp/build');
        }
        if (a.with && 'appPackagePath' in a.with) assert.equal(a.with.appPackagePath, zip, `${stage}: ${a.uses} must use the zip built before it`);
      }
    }
  });
}

test('teamsapp.yml provisions the Teams app, the bot identity and Azure, then deploys images and re-applies the template', () => {
  const p = readToolkitProject('teamsapp.yml');
  assert.deepEqual(stageUses(p, 'provision'), [
    'teamsApp/create', 'botAadApp/create', 'arm/deploy', 'teamsApp/validateManifest', 'teamsApp/zipAppPackage',
    'teamsApp/validateAppPackage', 'teamsApp/update',
  ]);
  assert.deepEqual(stageUses(p, 'deploy'), ['script', 'arm/deploy']);
  assert.deepEqual(stageUses(p, 'publish'), [
    'teamsApp/validateManifest', 'teamsApp/zipAppPackage', 'teamsApp/validateAppPackage', 'teamsApp/update', 'teamsApp/publishAppPackage',
  ]);
  const deployments = actions(p).filter((a) => a.uses === 'arm/deploy');
  const names = new Set<string>();
  for (const d of deployments) {
    const templates = d.with?.templates as { path: string; parameters?: string; deploymentName: string }[];
    assert.ok(Array.isArray(templates) && templates.length > 0);
    for (const t of templates) {
      assert.ok(exists(t.path), `${t.path} exists`);
      assert.ok(t.parameters && exists(t.parameters), `${t.parameters} exists`);
      assert.ok(!names.has(t.deploymentName), `deployment name ${t.deploymentName} is used once`);
      names.add(t.deploymentName);
      for (const k of Object.keys(t)) assert.ok(['path', 'parameters', 'deploymentName'].includes(k), `templates[].${k}`);
    }
    assert.equal(d.with?.subscriptionId, '${{AZURE_SUBSCRIPTION_ID}}');
    assert.equal(d.with?.resourceGroupName, '${{AZURE_RESOURCE_GROUP_NAME}}');
  }
  // The bot answers where the Azure Bot's endpoint points.
  assert.ok(routeInCode('/api/messages'), 'the bot serves /api/messages');
});

test('teamsapp.local.yml registers the tunnel endpoint with the Bot Framework and writes .localConfigs', () => {
  const p = readToolkitProject('teamsapp.local.yml');
  assert.deepEqual(stageUses(p, 'provision'), [
    'teamsApp/create', 'botAadApp/create', 'botFramework/create', 'teamsApp/validateManifest', 'teamsApp/zipAppPackage',
    'teamsApp/validateAppPackage', 'teamsApp/update',
  ]);
  assert.deepEqual(stageUses(p, 'deploy'), ['cli/runNpmCommand', 'file/createOrUpdateEnvironmentFile']);
  const bf = actions(p).find((a) => a.uses === 'botFramework/create')!;
  assert.equal(bf.with?.messagingEndpoint, '${{BOT_ENDPOINT}}/api/messages');
  assert.equal(bf.with?.botId, '${{BOT_ID}}');
  assert.deepEqual(bf.with?.channels, [{ name: 'msteams' }]);
  // npm run dev:teamsfx reads what the toolkit writes.
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts['dev:teamsfx'] ?? '', /--env-file=\.localConfigs/);
});

test('the scripts the toolkit runs exist, are executable and parse', () => {
  const scripts = scriptFiles();
  assert.ok(scripts.length > 0, 'teamsapp.yml runs infra/scripts/build-images.sh');
  for (const s of scripts) {
    accessSync(join(ROOT, s), constants.X_OK);
    execFileSync('bash', ['-n', join(ROOT, s)]);
  }
});

test('git ignores the secrets and build output the toolkit writes, and keeps the examples', () => {
  const ignored = (path: string) => {
    try {
      execFileSync('git', ['check-ignore', '-q', '--no-index', path], { cwd: ROOT });
      return true;
    } catch {
      return false;
    }
  };
  for (const path of ['env/.env.dev.user', 'env/.env.local.user', '.localConfigs', 'teamsapp/build/appPackage.dev.zip']) {
    assert.ok(ignored(path), `${path} must be git-ignored`);
  }
  for (const path of ['env/.env.dev', 'env/.env.local', 'env/.env.dev.user.example', 'env/.env.local.user.example']) {
    assert.ok(!ignored(path), `${path} must be committed`);
  }
});
