/**
 * infra/docker/Dockerfile and .dockerignore, linted as text (no Docker engine runs here): Node 24 LTS
 * base, production dependencies from the lockfile, unprivileged user, health checks on served routes,
 * the ODBC layer in the runner image only, no secrets in the build, and every module the entry
 * points import inside the image.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { exists, read, ROOT, routeInCode } from './harness/infra.ts';

interface Instruction { op: string; args: string; line: number }
interface Stage { name: string; from: string; instructions: Instruction[] }

/** Instructions of a Dockerfile, continuation lines joined, comments dropped. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending !== '' && line.startsWith('#')) return;
    if (pending === '') startLine = i + 1;
    pending += (pending ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (!line.endsWith('\\')) {
      const m = /^(\w+)\s+(.*)$/.exec(pending);
      if (!m) throw new Error(`Dockerfile:${startLine}: cannot read "${pending}"`);
      instructions.push({ op: m[1].toUpperCase(), args: m[2], line: startLine });
      pending = '';
    }
  });
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile:${ins.line}: FROM ${ins.args}`);
      stages.push({ name: m[2] ?? `stage${stages.length}`, from: m[1], instructions: [] });
    } else if (stages.length === 0) {
      if (ins.op !== 'ARG') throw new Error(`Dockerfile:${ins.line}: ${ins.op} before the first FROM`);
      const [k, v] = ins.args.split('=');
      args.set(k, v ?? '');
    } else {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return { args, stages };
}

const dockerfile = parseDockerfile(read('infra/docker/Dockerfile'));
const stage = (name: string) => {
  const s = dockerfile.stages.find((x) => x.name === name);
  assert.ok(s, `stage ${name}`);
  return s;
};
/** A stage and the stages it is built FROM, nearest first. */
function chain(name: string): Stage[] {
  const out: Stage[] = [];
  for (let s: Stage | undefined = stage(name); s; s = dockerfile.stages.find((x) => x.name === s!.from)) out.push(s);
  return out;
}
const resolveImage = (from: string) => from.replace(/\$\{(\w+)\}/g, (_, k: string) => dockerfile.args.get(k) ?? '');
const runs = (s: Stage) => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');

/** .dockerignore semantics: globs against the path or any parent, `!` re-includes, last match wins. */
function dockerIgnored(path: string): boolean {
  const rules = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const toRegex = (p: string) => new RegExp(`^${p.replace(/^\//, '').replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*\*\//g, '\u0000').replace(/\*\*/g, '.*').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\u0000/g, '(?:.*/)?')}$`);
  const parts = path.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const rule of rules) {
    const negate = rule.startsWith('!');
    const re = toRegex(negate ? rule.slice(1) : rule);
    if (negate ? re.test(path) : candidates.some((c) => re.test(c))) ignored = !negate;
  }
  return ignored;
}

test('bot and runner images build FROM Node 24 LTS on Debian slim, through a shared app stage', () => {
  for (const name of ['bot', 'runner']) {
    const c = chain(name);
    const root = resolveImage(c[c.length - 1].from);
    assert.match(root, /^node:24-bookworm-slim$/, `${name}: base image`);
    assert.ok(c.some((s) => s.name === 'app'), `${name} is built from the app stage`);
  }
  for (const s of dockerfile.stages) {
    const from = resolveImage(s.from);
    const isStage = dockerfile.stages.some((x) => x.name === s.from);
    if (!isStage) assert.match(from, /^node:(\d*[02468])-/, `${s.name}: FROM ${from} is an even (LTS) Node release`);
  }
});

test('dependencies: production only, from the lockfile, native modules built against the image\'s Node headers', () => {
  const deps = stage('deps');
  const copies = deps.instructions.filter((i) => i.op === 'COPY').map((i) => i.args);
  assert.ok(copies.some((a) => /package\.json/.test(a) && /package-lock\.json/.test(a)), 'package.json and package-lock.json are copied');
  const text = deps.instructions.map((i) => `${i.op} ${i.args}`).join('\n');
  assert.match(text, /ENV npm_config_nodedir=\/usr\/local/);
  assert.match(runs(deps), /npm install --omit=dev/);
  assert.doesNotMatch(runs(deps), /npm ci\b/, 'npm ci refuses this lockfile');
  const install = deps.instructions.findIndex((i) => i.op === 'RUN' && /npm install/.test(i.args));
  const lock = deps.instructions.findIndex((i) => i.op === 'COPY' && /package-lock\.json/.test(i.args));
  assert.ok(lock >= 0 && lock < install, 'the lockfile is in place before npm install');
  // The app stage takes node_modules from deps, never installs on its own.
  const app = stage('app');
  assert.ok(app.instructions.some((i) => i.op === 'COPY' && /--from=deps\s+\/app\/node_modules/.test(i.args)));
  assert.doesNotMatch(runs(app), /npm (install|ci)/);
});

test('both images run as the unprivileged node user, with a health check on a route the code serves', () => {
  const expect = { bot: { port: 'PORT', fallback: '3978' }, runner: { port: 'RUNNER_PORT', fallback: '9464' } };
  for (const [name, e] of Object.entries(expect)) {
    const c = chain(name);
    const users = c.flatMap((s) => s.instructions.filter((i) => i.op === 'USER').map((i) => i.args));
    assert.equal(users[0], 'node', `${name}: the last USER is node`);
    const own = stage(name).instructions;
    const userAt = own.findIndex((i) => i.op === 'USER');
    assert.ok(own.slice(userAt).every((i) => i.op !== 'RUN'), `${name}: nothing runs as root after USER`);
    const hc = own.find((i) => i.op === 'HEALTHCHECK');
    assert.ok(hc, `${name}: HEALTHCHECK`);
    assert.match(hc.args, new RegExp(`process\\.env\\.${e.port} \\|\\| ${e.fallback}`), `${name}: health check on ${e.port}`);
    const path = /'(\/[a-z]+)'/.exec(hc.args)?.[1];
    assert.equal(path, '/healthz');
    assert.ok(routeInCode(path), `${path} is served by the code`);
    assert.ok(own.some((i) => i.op === 'EXPOSE' && i.args === e.fallback), `${name}: EXPOSE ${e.fallback}`);
  }
});

test('each image starts its entry point through tsx, and everything that entry point imports is in the image', () => {
  const copied = stage('app').instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  for (const src of copied) {
    assert.ok(exists(src), `COPY ${src}: exists`);
    assert.ok(!dockerIgnored(src), `COPY ${src}: not excluded by .dockerignore`);
  }
  for (const [name, entry] of [['bot', 'bot/main.ts'], ['runner', 'runner/main.ts']]) {
    const cmd = stage(name).instructions.find((i) => i.op === 'CMD');
    assert.deepEqual(JSON.parse(cmd!.args), ['node', '--import', 'tsx', entry], `${name}: CMD`);
    // Walk the relative imports from the entry point: every file must fall under a copied folder.
    const seen = new Set<string>();
    const queue = [entry];
    while (queue.length) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/(?:from|import\(?)\s*'(\.{1,2}\/[^']+\.ts)'/g)) {
        queue.push(normalize(join(dirname(file), m[1])));
      }
    }
    assert.ok(seen.size > 10, `${name}: the import walk found ${seen.size} modules`);
    const outside = [...seen].filter((f) => !copied.some((c) => f === c || f.startsWith(`${c}/`)) || dockerIgnored(f));
    assert.deepEqual(outside, [], `${name}: modules imported at run time but not in the image`);
  }
  assert.ok(copied.includes('reports'), 'the report definitions (REPORTS_DIR=reports)');
  assert.ok(copied.includes('cards'), 'the card templates');
});

test('the ODBC driver layer is in the runner image only', () => {
  const odbc = /\b(unixodbc|odbc-postgresql|tdsodbc|msodbcsql\d+)\b/;
  const runner = runs(stage('runner'));
  for (const pkg of ['unixodbc', 'odbc-postgresql', 'tdsodbc']) assert.match(runner, new RegExp(`\\b${pkg}\\b`), `runner installs ${pkg}`);
  assert.match(runner, /odbcinst/, 'FreeTDS is registered with unixODBC');
  for (const s of chain('bot')) assert.doesNotMatch(runs(s), odbc, `${s.name} (bot image) installs no ODBC driver`);
  // Build tools and headers stay in the deps stage.
  for (const s of [...chain('bot'), ...chain('runner')]) assert.doesNotMatch(runs(s), /\b(g\+\+|unixodbc-dev|python3)\b/, `${s.name}: no build tools`);
});

test('no secret goes into an image: none copied, none baked into ENV or ARG, and .dockerignore keeps them out of the context', () => {
  for (const s of dockerfile.stages) {
    for (const i of s.instructions) {
      if (i.op === 'COPY' || i.op === 'ADD') assert.doesNotMatch(i.args, /(^|\s|\/)(env\/|\.env|\.localConfigs|[^\s]*\.user\b|secrets?)/i, `Dockerfile:${i.line}: ${i.op} ${i.args}`);
      if (i.op === 'ENV' || i.op === 'ARG') {
        assert.doesNotMatch(i.args, /\b\w*(PASSWORD|SECRET|TOKEN|KEY|CONNECTION_\w+|REDIS_URL)\w*=/i, `Dockerfile:${i.line}: ${i.op} ${i.args}`);
      }
    }
  }
  for (const [k] of dockerfile.args) assert.doesNotMatch(k, /PASSWORD|SECRET|TOKEN|KEY/i);
  for (const path of ['env/.env.dev.user', 'env/.env.dev', '.env', '.env.local.user', 'core/.env.x.user', '.localConfigs', 'node_modules/x/index.js', '.data/warehouse.sqlite', '.git/HEAD', 'test/e2e.test.ts', 'core/config.test.ts']) {
    assert.ok(dockerIgnored(path), `.dockerignore excludes ${path}`);
  }
  for (const path of ['core/config.ts', 'package-lock.json', 'bot/main.ts', 'reports', 'infra/docker/Dockerfile']) {
    assert.ok(!dockerIgnored(path), `.dockerignore keeps ${path}`);
  }
});
