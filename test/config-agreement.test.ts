/**
 * The variables core/config.ts reads, the toolkit env files and README's configuration table agree:
 * every variable is in each of them, and none lists a variable nothing reads. When a branch adds a
 * variable to the schema, this fails and names each file that still lacks it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  awaitedVariables, codeVariables, CONNECTION_VAR, isCodeVariable, producedVariables, readEnvFile,
  readmeConfigTable, readToolkitProject, staleAwaited, toolkitVariables, exists, placeholders, read,
} from './harness/infra.ts';

const ENVIRONMENTS = ['dev', 'local'] as const;

/** The names an environment covers: its env file, its committed secrets example, its "provided by" lines. */
function covered(env: string): { names: Set<string>; files: string[]; lists: Map<string, string> } {
  const file = readEnvFile(`env/.env.${env}`);
  const secretsPath = `env/.env.${env}.user.example`;
  const secrets = exists(secretsPath) ? readEnvFile(secretsPath) : undefined;
  const names = new Set<string>([...file.values.keys(), ...file.provided]);
  // Where each name came from, to name the file in a complaint.
  const lists = new Map<string, string>();
  for (const n of [...file.values.keys(), ...file.provided]) lists.set(n, file.path);
  for (const n of secrets?.values.keys() ?? []) {
    const plain = n.replace(/^SECRET_/, '');
    names.add(plain);
    lists.set(n, secretsPath);
  }
  return { names, files: secrets ? [file.path, secretsPath] : [file.path], lists };
}

test('every variable the code reads is in env/.env.dev, env/.env.local and README; none lists one it does not read', () => {
  // Awaited variables are not in the schema yet: never "missing", and accepted where already listed.
  const code = codeVariables();
  const toolkit = toolkitVariables();
  const problems: string[] = [];

  for (const env of ENVIRONMENTS) {
    const { names, files, lists } = covered(env);
    const missing = code.filter((v) => !names.has(v));
    if (missing.length) problems.push(`missing from ${files.join(' + ')} (as NAME=, SECRET_NAME= or a "# provided by" line): ${missing.join(', ')}`);
    const unknown = [...lists.keys()].filter((n) => {
      const plain = n.replace(/^SECRET_/, '');
      return !isCodeVariable(plain) && !toolkit.has(n);
    });
    if (unknown.length) problems.push(`listed in ${files.join(' + ')} but read by neither the code nor the toolkit files: ${unknown.join(', ')}`);
    // A secret must never sit in the committed file.
    const file = readEnvFile(`env/.env.${env}`);
    const leaked = [...file.values.keys()].filter((n) => n.startsWith('SECRET_'));
    if (leaked.length) problems.push(`env/.env.${env} holds secrets (they belong in env/.env.${env}.user): ${leaked.join(', ')}`);
  }

  const readme = readmeConfigTable();
  const readmeSet = new Set(readme);
  const missingReadme = code.filter((v) => !readmeSet.has(v));
  if (missingReadme.length) problems.push(`missing from README.md's Configuration table: ${missingReadme.join(', ')}`);
  const unknownReadme = readme.filter((n) => n !== 'CONNECTION_<NAME>' && !isCodeVariable(n));
  if (unknownReadme.length) problems.push(`README.md's Configuration table lists variables the code does not read: ${unknownReadme.join(', ')}`);
  if (!readmeSet.has('CONNECTION_<NAME>')) problems.push('README.md\'s Configuration table lacks the CONNECTION_<NAME> row');

  assert.deepEqual(problems, [], `config, env files and README disagree:\n  ${problems.join('\n  ')}`);
});

test('teamsapp.local.yml writes every variable the code reads into .localConfigs, from names env/.env.local defines', () => {
  const project = readToolkitProject('teamsapp.local.yml');
  const write = (project.doc.deploy ?? []).find((a) => a.uses === 'file/createOrUpdateEnvironmentFile');
  assert.ok(write, 'teamsapp.local.yml: deploy has no file/createOrUpdateEnvironmentFile');
  assert.equal(write.with?.target, './.localConfigs');
  const envs = write.with?.envs as Record<string, string>;
  const awaited = new Set(awaitedVariables());
  const missing = codeVariables().filter((v) => !(v in envs));
  const unknown = Object.keys(envs).filter((k) => !isCodeVariable(k));
  assert.deepEqual({ missing, unknown }, { missing: [], unknown: [] },
    `.localConfigs (teamsapp.local.yml) lacks ${missing.join(', ') || '-'}; writes unknown ${unknown.join(', ') || '-'}`);
  for (const name of awaited) if (!(name in envs)) assert.fail(`${name} is awaited but not written to .localConfigs`);

  const local = covered('local');
  const produced = producedVariables();
  const defined = (n: string) => local.lists.has(n) || produced.has(n);
  const undefinedRefs = Object.entries(envs).flatMap(([k, v]) => placeholders(String(v)).filter((p) => !defined(p)).map((p) => `${k} ← \${{${p}}}`));
  assert.deepEqual(undefinedRefs, [], `placeholders that env/.env.local(.user.example) does not define: ${undefinedRefs.join(', ')}`);
  // Secrets come from SECRET_ names only, so the toolkit keeps them in the .user file.
  for (const [k, v] of Object.entries(envs)) {
    if (k === 'BOT_PASSWORD' || CONNECTION_VAR.test(k)) assert.match(String(v), /^\$\{\{SECRET_[A-Z0-9_]+\}\}$/, `${k} must come from a SECRET_ variable`);
  }
});

test('every ${{placeholder}} of teamsapp.yml and the parameters file is defined by env/.env.dev or written by an earlier step', () => {
  const dev = covered('dev');
  const produced = producedVariables();
  const problems: string[] = [];
  for (const file of ['teamsapp.yml', 'infra/azure.parameters.json']) {
    for (const p of new Set(placeholders(read(file)))) {
      if (!dev.lists.has(p) && !produced.has(p)) problems.push(`${file}: \${{${p}}}`);
    }
  }
  assert.deepEqual(problems, [], `undefined in env/.env.dev(.user.example): ${problems.join(', ')}`);
});

test('AWAITING_MERGE in test/harness/infra.ts names only what has not arrived yet', () => {
  const stale = staleAwaited();
  assert.deepEqual(stale, [], `these arrived in the code: remove them from AWAITING_MERGE in test/harness/infra.ts: ${stale.join(', ')}`);
});
