/**
 * Readers for the deployment files the infra tests compare: the variables core/config.ts reads, the
 * toolkit env files, README's configuration table, teamsapp*.yml, infra/azure.bicep and its
 * parameters. Each reader fails loudly on a line it does not understand, so a test never passes
 * because a file was half read.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../../core/config.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A repository file's text. */
export function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}

export function exists(rel: string): boolean {
  return existsSync(join(ROOT, rel));
}

/**
 * Names and routes that other branches bring (branch `ops`: the runner's HTTP port for /healthz,
 * /readyz and /metrics; /readyz on the bot). The deployment files already use them; until they exist
 * in the code the checks accept their absence, and once they do, `staleAwaited()` fails so the entry
 * is removed here.
 */
export const AWAITING_MERGE: { variables: readonly string[]; routes: readonly string[] } = {
  variables: [],
  routes: [],
};

/** `CONNECTION_<NAME>`: any number of named connections, read as a pattern by core/config.ts. */
export const CONNECTION_VAR = /^CONNECTION_[A-Z0-9_]+$/;

/** Every variable core/config.ts declares. */
export function codeVariables(): string[] {
  return Object.keys(configSchema.shape);
}

/** Awaited variables that the code does not read yet. */
export function awaitedVariables(): string[] {
  const code = new Set(codeVariables());
  return AWAITING_MERGE.variables.filter((v) => !code.has(v));
}

/** Production source files (not tests) of the bot, the runner and core. */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
    }
  };
  for (const dir of ['bot', 'runner', 'core']) walk(join(ROOT, dir));
  return out;
}

/**
 * Whether some production source names `path` as a string literal: a textual check (it cannot tell
 * the bot's server from the runner's), enough to catch a probe pointing at a route nobody serves.
 */
export function routeInCode(path: string): boolean {
  const quoted = [`'${path}'`, `"${path}"`, `\`${path}\``];
  return sourceFiles().some((f) => {
    const text = readFileSync(f, 'utf8');
    return quoted.some((q) => text.includes(q));
  });
}

/** Awaited routes that the code does not serve yet. */
export function awaitedRoutes(): string[] {
  return AWAITING_MERGE.routes.filter((r) => !routeInCode(r));
}

/** AWAITING_MERGE entries that have arrived: they must be removed from the list. */
export function staleAwaited(): string[] {
  const code = new Set(codeVariables());
  return [
    ...AWAITING_MERGE.variables.filter((v) => code.has(v)).map((v) => `variable ${v}`),
    ...AWAITING_MERGE.routes.filter((r) => routeInCode(r)).map((r) => `route ${r}`),
  ];
}

/** A variable the code reads: declared in the schema, a CONNECTION_<NAME>, or awaited. */
export function isCodeVariable(name: string): boolean {
  return codeVariables().includes(name) || CONNECTION_VAR.test(name) || awaitedVariables().includes(name);
}

export interface EnvFile {
  path: string;
  /** `NAME=value` lines. */
  values: Map<string, string>;
  /** Names listed in `# provided by <who>: NAME NAME …` comments: set by the deployment, not the file. */
  provided: Set<string>;
}

/** Parse a toolkit env file (dotenv: `NAME=value`, `#` comments). */
export function readEnvFile(rel: string): EnvFile {
  const values = new Map<string, string>();
  const provided = new Set<string>();
  read(rel).split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const p = /^#\s*provided by [^:]+:\s*(.+)$/i.exec(line);
    if (p) {
      for (const name of p[1].split(/\s+/)) provided.add(name);
      return;
    }
    if (line.startsWith('#')) return;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new Error(`${rel}:${i + 1}: not NAME=value: ${raw}`);
    if (values.has(m[1])) throw new Error(`${rel}:${i + 1}: ${m[1]} is set twice`);
    values.set(m[1], m[2]);
  });
  return { path: rel, values, provided };
}

/** The variable names in README's "## Configuration" table (first column, in backticks). */
export function readmeConfigTable(): string[] {
  const lines = read('README.md').split('\n');
  const start = lines.findIndex((l) => /^## Configuration\s*$/.test(l));
  if (start < 0) throw new Error('README.md has no "## Configuration" section');
  const names: string[] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('|')) {
      inTable = true;
      const m = /^\|\s*`([^`]+)`\s*\|/.exec(line);
      if (m) names.push(m[1]);
      continue;
    }
    if (inTable) break;
    if (line.startsWith('## ')) break;
  }
  if (names.length === 0) throw new Error('README.md: no variables found in the Configuration table');
  return names;
}

/** `${{NAME}}` (and `${{env:NAME}}`) placeholders in a text. */
export function placeholders(text: string): string[] {
  return [...text.matchAll(/\$\{\{(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)\}\}/g)].map((m) => m[1]);
}

export interface ToolkitAction {
  uses: string;
  name?: string;
  with?: Record<string, unknown>;
  writeToEnvironmentFile?: Record<string, string>;
  env?: Record<string, string>;
}

export interface ToolkitProject {
  path: string;
  text: string;
  doc: {
    version: string;
    environmentFolderPath?: string;
    provision?: ToolkitAction[];
    deploy?: ToolkitAction[];
    publish?: ToolkitAction[];
  };
}

export function readToolkitProject(rel: string): ToolkitProject {
  const text = read(rel);
  return { path: rel, text, doc: parseYaml(text) as ToolkitProject['doc'] };
}

export function actions(p: ToolkitProject): ToolkitAction[] {
  return [...(p.doc.provision ?? []), ...(p.doc.deploy ?? []), ...(p.doc.publish ?? [])];
}

export interface BicepParam {
  name: string;
  type: string;
  hasDefault: boolean;
  secure: boolean;
}

/** `param` declarations of a Bicep file (with whether a default is given and `@secure()`). */
export function bicepParams(rel: string): BicepParam[] {
  const out: BicepParam[] = [];
  let secure = false;
  for (const line of read(rel).split('\n')) {
    if (/^@secure\(\)/.test(line)) secure = true;
    const m = /^param\s+(\w+)\s+(\w+)(\s*=.*)?$/.exec(line.trim());
    if (m) {
      out.push({ name: m[1], type: m[2], hasDefault: Boolean(m[3]), secure });
      secure = false;
    } else if (!line.startsWith('@') && line.trim() !== '' && !line.startsWith('//')) {
      secure = false;
    }
  }
  return out;
}

/** `output NAME` declarations: arm/deploy writes them to the env file. */
export function bicepOutputs(rel: string): string[] {
  return [...read(rel).matchAll(/^output\s+(\w+)\s/gm)].map((m) => m[1]);
}

/** The keys of `var <name> = { KEY: … }` (one key per line) in a Bicep file. */
export function bicepObjectVar(rel: string, name: string): Map<string, string> {
  const lines = read(rel).split('\n');
  const start = lines.findIndex((l) => l.startsWith(`var ${name} = {`));
  if (start < 0) throw new Error(`${rel}: no "var ${name} = {"`);
  const out = new Map<string, string>();
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('}')) return out;
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*):\s*(.+)$/.exec(line);
    if (!m) throw new Error(`${rel}: cannot read "${line}" in var ${name}`);
    out.set(m[1], m[2].trim());
  }
  throw new Error(`${rel}: var ${name} is not closed`);
}

/** Resource types with their API versions: `resource x 'Type@version'` and `module`s' paths. */
export function bicepResources(rel: string): { type: string; apiVersion: string }[] {
  return [...read(rel).matchAll(/^resource\s+\w+\s+'([^@']+)@([^']+)'/gm)].map((m) => ({ type: m[1], apiVersion: m[2] }));
}

export function bicepModules(rel: string): { path: string; params: string[] }[] {
  const text = read(rel);
  return [...text.matchAll(/^module\s+\w+\s+'([^']+)'\s*=\s*\{([\s\S]*?)^\}/gm)].map((m) => {
    const params = /params:\s*\{([\s\S]*?)\n {2}\}/.exec(m[2]);
    return {
      path: join(dirname(rel), m[1]),
      params: params ? [...params[1].matchAll(/^\s{4}(\w+):/gm)].map((p) => p[1]) : [],
    };
  });
}

export interface ArmParameters {
  parameters: Record<string, { value?: unknown; reference?: unknown }>;
}

export function readArmParameters(rel: string): ArmParameters {
  return JSON.parse(read(rel)) as ArmParameters;
}

/**
 * Variables the toolkit project itself uses or produces (not the app's): `${{…}}` placeholders in the
 * toolkit files, names written by actions, Bicep outputs, script outputs and the dev tunnel task.
 */
export function toolkitVariables(): Set<string> {
  const out = new Set<string>();
  const texts = ['teamsapp.yml', 'teamsapp.local.yml', 'infra/azure.parameters.json', '.vscode/tasks.json', '.vscode/launch.json']
    .filter(exists).map(read);
  for (const t of texts) for (const p of placeholders(t)) out.add(p);
  for (const name of producedVariables()) out.add(name);
  return out;
}

/** Names written into env files by the toolkit: action outputs, Bicep outputs, script outputs, the tunnel. */
export function producedVariables(): Set<string> {
  const out = new Set<string>();
  for (const file of ['teamsapp.yml', 'teamsapp.local.yml']) {
    for (const a of actions(readToolkitProject(file))) {
      for (const v of Object.values(a.writeToEnvironmentFile ?? {})) out.add(v);
    }
  }
  for (const o of bicepOutputs('infra/azure.bicep')) out.add(o);
  for (const script of scriptFiles()) {
    for (const m of read(script).matchAll(/::set-teamsfx-env ([A-Z][A-Z0-9_]*)=/g)) out.add(m[1]);
  }
  if (exists('.vscode/tasks.json')) {
    for (const m of read('.vscode/tasks.json').matchAll(/"(?:endpoint|domain)":\s*"([A-Z][A-Z0-9_]*)"/g)) out.add(m[1]);
  }
  return out;
}

/** Script files the toolkit projects run (`uses: script`). */
export function scriptFiles(): string[] {
  const out: string[] = [];
  for (const file of ['teamsapp.yml', 'teamsapp.local.yml']) {
    for (const a of actions(readToolkitProject(file))) {
      if (a.uses !== 'script') continue;
      const m = /(?:^|\s)(?:bash\s+)?(\.?\/?infra\/\S+\.sh)/.exec(String(a.with?.run ?? ''));
      if (m) out.push(relative(ROOT, join(ROOT, m[1])));
    }
  }
  return out;
}
