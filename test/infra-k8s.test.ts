/**
 * infra/k8s: the base and both overlays rendered (patches applied), every object validated with
 * kubernetes-models (+ @kubernetes-models/keda), and the wiring checked: selectors, ports, probes
 * against routes the code serves, settings against core/config.ts, KEDA's lists against BullMQ's keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { QueueKeys } from 'bullmq';
import { parseAllDocuments } from 'yaml';
import {
  awaitedRoutes, codeVariables, exists, isCodeVariable, readEnvFile, ROOT, routeInCode,
} from './harness/infra.ts';
import {
  keyOf, podSpecOf, renderKustomization, typeCheckWithModels, validateWithModel, type K8sObject,
} from './harness/k8s.ts';

const BASE = 'infra/k8s/base';
const OVERLAYS = ['infra/k8s/overlays/aks', 'infra/k8s/overlays/microk8s'];
const rendered = new Map([BASE, ...OVERLAYS].map((dir) => [dir, renderKustomization(dir)]));
/** Secrets created by hand per cluster (infra/k8s/README.md), never committed. */
const EXTERNAL_SECRETS = ['reportbot-secrets', 'reportbot-redis-auth', 'reportbot-tls'];

type Container = {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: { name: string; valueFrom?: { secretKeyRef?: { name: string }; configMapKeyRef?: { name: string } } }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
};
type Probe = { httpGet?: { path: string; port: string | number }; tcpSocket?: { port: string | number } };

const find = (objects: K8sObject[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const spec = <T>(o: K8sObject) => o.spec as T;
const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const workloads = (objects: K8sObject[]) => objects.filter((o) => podSpecOf(o));
const podLabels = (o: K8sObject) => (o.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;

function resolvePort(c: Container, port: string | number): number | undefined {
  return typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort;
}

test('kubectl kustomize renders what the tests render (when kubectl is installed)', (t) => {
  let version: string;
  try {
    version = execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  } catch {
    t.skip('kubectl is not installed: the overlays are rendered by test/harness/k8s.ts only');
    return;
  }
  t.diagnostic(version.split('\n').join(' '));
  for (const [dir, ours] of rendered) {
    const out = execFileSync('kubectl', ['kustomize', dir], { cwd: ROOT, encoding: 'utf8' });
    const theirs = parseAllDocuments(out).map((d) => d.toJSON() as K8sObject);
    const byKey = (list: K8sObject[]) => Object.fromEntries(list.map((o) => [keyOf(o), o]));
    assert.deepEqual(byKey(ours), byKey(theirs), `${dir}: test renderer and kubectl kustomize differ`);
  }
});

test('every object of the base and of each overlay is valid for kubernetes-models', async () => {
  const problems: string[] = [];
  for (const [dir, objects] of rendered) {
    for (const o of objects) await validateWithModel(o).catch((err: Error) => problems.push(`${dir}: ${err.message}`));
  }
  assert.deepEqual(problems, []);
});

test('no object has a field Kubernetes does not know (the models\' TypeScript types)', () => {
  const errors = typeCheckWithModels([...rendered].map(([label, objects]) => ({ label, objects })));
  assert.deepEqual(errors, []);
});

test('the type check does reject an unknown field and a wrong type', () => {
  const base = rendered.get(BASE)!;
  const misspelt = structuredClone(find(base, 'Deployment', 'reportbot-bot')!);
  const c1 = podSpecOf(misspelt)!.containers[0] as Record<string, unknown>;
  c1.readinesProbe = c1.readinessProbe;
  delete c1.readinessProbe;
  const mistyped = structuredClone(find(base, 'Deployment', 'reportbot-runner')!);
  (podSpecOf(mistyped)!.containers[0] as unknown as { ports: { containerPort: unknown }[] }).ports[0].containerPort = '9464';
  const errors = typeCheckWithModels([{ label: 'misspelt', objects: [misspelt] }, { label: 'mistyped', objects: [mistyped] }]);
  assert.ok(errors.some((e) => e.startsWith('misspelt Deployment/reportbot-bot') && /readinesProbe/.test(e)), errors.join('\n'));
  assert.ok(errors.some((e) => e.startsWith('mistyped Deployment/reportbot-runner') && /not assignable to type 'number'/.test(e)), errors.join('\n'));
});

for (const [dir, objects] of rendered) {
  test(`${dir}: selectors, services, ingress, PDBs and network policies all point at real pods and ports`, () => {
    const problems: string[] = [];
    for (const w of workloads(objects)) {
      const sel = spec<{ selector: { matchLabels: Record<string, string> } }>(w).selector.matchLabels;
      if (!matches(sel, podLabels(w))) problems.push(`${keyOf(w)}: selector does not match its pod labels`);
    }
    for (const svc of objects.filter((o) => o.kind === 'Service')) {
      const s = spec<{ selector: Record<string, string>; ports: { name: string; targetPort: string | number }[] }>(svc);
      const target = workloads(objects).find((w) => matches(s.selector, podLabels(w)));
      if (!target) {
        problems.push(`${keyOf(svc)}: selects no pods`);
        continue;
      }
      for (const p of s.ports) {
        const ok = podSpecOf(target)!.containers.some((c) => resolvePort(c as Container, p.targetPort) !== undefined);
        if (!ok) problems.push(`${keyOf(svc)}: targetPort ${p.targetPort} is not a port of ${keyOf(target)}`);
      }
    }
    for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
      const sel = spec<{ selector: { matchLabels: Record<string, string> } }>(pdb).selector.matchLabels;
      if (!workloads(objects).some((w) => matches(sel, podLabels(w)))) problems.push(`${keyOf(pdb)}: selects no pods`);
    }
    for (const np of objects.filter((o) => o.kind === 'NetworkPolicy')) {
      const s = spec<{ podSelector: { matchLabels?: Record<string, string> }; ingress?: { ports?: { port: string | number }[] }[] }>(np);
      const sel = s.podSelector.matchLabels ?? {};
      const targets = workloads(objects).filter((w) => matches(sel, podLabels(w)));
      if (targets.length === 0) problems.push(`${keyOf(np)}: selects no pods`);
      for (const rule of s.ingress ?? []) {
        for (const p of rule.ports ?? []) {
          const ok = targets.every((w) => podSpecOf(w)!.containers.some((c) => resolvePort(c as Container, p.port) !== undefined));
          if (!ok) problems.push(`${keyOf(np)}: port ${p.port} is not a port of the pods it selects`);
        }
      }
    }
    for (const ing of objects.filter((o) => o.kind === 'Ingress')) {
      const s = spec<{ rules: { host: string; http: { paths: { path: string; backend: { service: { name: string; port: { name?: string; number?: number } } } }[] } }[]; tls?: { hosts: string[] }[] }>(ing);
      for (const rule of s.rules) {
        for (const p of rule.http.paths) {
          const svc = find(objects, 'Service', p.backend.service.name);
          const ports = svc ? spec<{ ports: { name: string; port: number }[] }>(svc).ports : [];
          if (!ports.some((sp) => sp.name === p.backend.service.port.name || sp.port === p.backend.service.port.number)) {
            problems.push(`${keyOf(ing)}: backend ${p.backend.service.name}:${JSON.stringify(p.backend.service.port)} does not exist`);
          }
        }
        // Teams only calls HTTPS endpoints.
        if (!s.tls?.some((t) => t.hosts.includes(rule.host))) problems.push(`${keyOf(ing)}: ${rule.host} has no TLS`);
      }
      const paths = s.rules.flatMap((r) => r.http.paths.map((p) => p.path));
      if (!paths.some((p) => '/api/messages'.startsWith(p))) problems.push(`${keyOf(ing)}: /api/messages is not routed`);
    }
    for (const so of objects.filter((o) => o.kind === 'ScaledObject')) {
      const s = spec<{ scaleTargetRef: { name: string; kind?: string }; triggers: { authenticationRef?: { name: string } }[] }>(so);
      if (!find(objects, s.scaleTargetRef.kind ?? 'Deployment', s.scaleTargetRef.name)) problems.push(`${keyOf(so)}: scale target ${s.scaleTargetRef.name} does not exist`);
      for (const tr of s.triggers) {
        if (tr.authenticationRef && !find(objects, 'TriggerAuthentication', tr.authenticationRef.name)) problems.push(`${keyOf(so)}: TriggerAuthentication ${tr.authenticationRef.name} does not exist`);
      }
    }
    for (const ta of objects.filter((o) => o.kind === 'TriggerAuthentication')) {
      for (const ref of spec<{ secretTargetRef: { name: string }[] }>(ta).secretTargetRef) {
        if (!EXTERNAL_SECRETS.includes(ref.name)) problems.push(`${keyOf(ta)}: secret ${ref.name} is neither in the manifests nor documented`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test(`${dir}: containers take settings from the ConfigMap and documented Secrets, run unprivileged with limits and probes on served routes`, () => {
    const problems: string[] = [];
    const awaited = new Set(awaitedRoutes());
    for (const w of workloads(objects)) {
      const pod = podSpecOf(w)!;
      const podSec = (pod.securityContext ?? {}) as { runAsNonRoot?: boolean; runAsUser?: number };
      if (podSec.runAsNonRoot !== true || !podSec.runAsUser) problems.push(`${keyOf(w)}: pod must run as a non-root uid`);
      for (const c of pod.containers as Container[]) {
        const at = `${keyOf(w)} ${c.name}`;
        if (c.securityContext?.allowPrivilegeEscalation !== false || c.securityContext?.readOnlyRootFilesystem !== true) {
          problems.push(`${at}: allowPrivilegeEscalation false and a read-only root filesystem`);
        }
        if (!c.resources?.requests?.memory || !c.resources?.limits?.memory || !c.resources?.requests?.cpu) problems.push(`${at}: cpu/memory requests and a memory limit`);
        if (!c.livenessProbe || !c.readinessProbe) problems.push(`${at}: liveness and readiness probes`);
        for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
          if (!probe) continue;
          const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
          if (port === undefined || resolvePort(c, port) === undefined) problems.push(`${at}: probe port ${port} is not a container port`);
          const path = probe.httpGet?.path;
          if (path && !routeInCode(path) && !awaited.has(path)) problems.push(`${at}: probe path ${path} is served by no code`);
        }
        for (const from of c.envFrom ?? []) {
          if (from.configMapRef && !find(objects, 'ConfigMap', from.configMapRef.name)) problems.push(`${at}: ConfigMap ${from.configMapRef.name} does not exist`);
          if (from.secretRef && !EXTERNAL_SECRETS.includes(from.secretRef.name)) problems.push(`${at}: Secret ${from.secretRef.name} is not documented`);
        }
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef?.name;
          if (ref && !EXTERNAL_SECRETS.includes(ref)) problems.push(`${at}: Secret ${ref} is not documented`);
        }
      }
      const annotations = (w.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata.annotations ?? {};
      if (annotations['prometheus.io/scrape'] === 'true') {
        const port = Number(annotations['prometheus.io/port']);
        if (!(pod.containers as Container[]).some((c) => c.ports?.some((p) => p.containerPort === port))) problems.push(`${keyOf(w)}: prometheus.io/port ${port} is not a container port`);
        const path = annotations['prometheus.io/path'];
        if (!routeInCode(path) && !awaited.has(path)) problems.push(`${keyOf(w)}: ${path} is served by no code`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test(`${dir}: ports and queue names in the manifests agree with the ConfigMap, KEDA watches BullMQ's lists`, () => {
    const config = (find(objects, 'ConfigMap', 'reportbot-config')!.data ?? {}) as Record<string, string>;
    const containerPort = (deployment: string) => (podSpecOf(find(objects, 'Deployment', deployment)!)!.containers[0] as Container).ports?.[0]?.containerPort;
    assert.equal(containerPort('reportbot-bot'), Number(config.PORT), 'bot containerPort = PORT');
    assert.equal(containerPort('reportbot-runner'), Number(config.RUNNER_PORT), 'runner containerPort = RUNNER_PORT');

    const so = find(objects, 'ScaledObject', 'reportbot-runner')!;
    const s = spec<{ minReplicaCount: number; triggers: { type: string; name: string; metadata: Record<string, string> }[] }>(so);
    assert.ok(s.minReplicaCount >= 1, 'never zero runners: BullMQ workers promote delayed retries');
    const keys = new QueueKeys(config.REDIS_PREFIX);
    assert.deepEqual(s.triggers.map((tr) => tr.metadata.listName).sort(),
      [keys.toKey(config.QUEUE_NAME, 'active'), keys.toKey(config.QUEUE_NAME, 'wait')].sort());
    for (const tr of s.triggers) {
      assert.equal(tr.type, 'redis');
      assert.equal(tr.metadata.listLength, config.RUNNER_CONCURRENCY, `${tr.name}: listLength = RUNNER_CONCURRENCY`);
      assert.match(tr.metadata.address, /^[a-z0-9.-]+:\d+$/, `${tr.name}: host:port`);
    }
    const redisSvc = find(objects, 'Service', 'redis');
    if (redisSvc) {
      // In the cluster: KEDA's operator reaches Redis by its full name, without TLS.
      const port = spec<{ ports: { port: number }[] }>(redisSvc).ports[0].port;
      for (const tr of s.triggers) {
        assert.equal(tr.metadata.address, `redis.${redisSvc.metadata.namespace}.svc.cluster.local:${port}`);
        assert.equal(tr.metadata.enableTLS, 'false');
      }
      const redis = find(objects, 'StatefulSet', 'redis')!;
      const args = (podSpecOf(redis)!.containers[0] as Container & { args: string[] }).args.join(' ');
      assert.match(args, /--maxmemory-policy noeviction/, 'BullMQ needs noeviction');
      assert.match(args, /--appendonly yes/, 'the queue survives a Redis restart');
    } else if (dir.endsWith('/aks')) {
      for (const tr of s.triggers) {
        assert.match(tr.metadata.address, /\.redis\.cache\.windows\.net:6380$/, 'Azure Cache for Redis, TLS port');
        assert.equal(tr.metadata.enableTLS, 'true');
      }
    }
  });
}

test('the overlays set real images and an ingress class, and keep the base\'s objects', () => {
  const base = rendered.get(BASE)!;
  for (const dir of OVERLAYS) {
    const objects = rendered.get(dir)!;
    for (const o of base) assert.ok(find(objects, o.kind, o.metadata.name), `${dir} keeps ${keyOf(o)}`);
    for (const name of ['reportbot-bot', 'reportbot-runner']) {
      const image = podSpecOf(find(objects, 'Deployment', name)!)!.containers[0].image;
      assert.match(image, /^[a-z0-9.:-]+\/reportbot-(bot|runner):[\w.-]+$/, `${dir} ${name}: a registry image with a tag`);
      assert.ok(!image.endsWith(':latest'), `${dir} ${name}: a pinned tag`);
    }
    assert.ok(spec<{ ingressClassName?: string }>(find(objects, 'Ingress', 'reportbot-bot')!).ingressClassName, `${dir}: ingressClassName`);
    for (const o of objects) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'reportbot', `${dir} ${keyOf(o)} namespace`);
  }
});

test('the ConfigMap and the Secret\'s documented keys cover every variable the code reads, each once', () => {
  const config = Object.keys((find(rendered.get(BASE)!, 'ConfigMap', 'reportbot-config')!.data ?? {}) as Record<string, string>);
  assert.ok(exists(`${BASE}/secrets.env.example`));
  const secrets = [...readEnvFile(`${BASE}/secrets.env.example`).values.keys()];
  const problems: string[] = [];
  const both = config.filter((k) => secrets.includes(k));
  if (both.length) problems.push(`in the ConfigMap and the Secret: ${both.join(', ')}`);
  const unknown = [...config, ...secrets].filter((k) => !isCodeVariable(k));
  if (unknown.length) problems.push(`read by no code: ${unknown.join(', ')}`);
  const missing = codeVariables().filter((v) => !config.includes(v) && !secrets.includes(v));
  if (missing.length) problems.push(`missing from ${BASE}/configmap.yaml or secrets.env.example: ${missing.join(', ')}`);
  // Passwords and connection strings never sit in the ConfigMap.
  const secretLike = config.filter((k) => /PASSWORD|SECRET|CONNECTION|REDIS_URL/.test(k));
  if (secretLike.length) problems.push(`secrets in the ConfigMap: ${secretLike.join(', ')}`);
  assert.deepEqual(problems, [], problems.join('\n'));
});
