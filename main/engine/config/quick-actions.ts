/**
 * Quick actions (inject a fault, shift traffic, set a timeout or retries) as edits of the user's real Istio YAML.
 * The edit keeps comments and the rest of the file as written: only the VirtualService document that changes is
 * re-serialized and spliced back in. Nothing is written here; the UI shows the diff and saves it.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML, { isMap, isSeq, type Document, type YAMLMap, type YAMLSeq } from 'yaml';
import type { EditPlan } from '../../contract/api.js';
import { ErrorCodes, MeshError } from '../../contract/errors.js';
import type { IstioResource, VirtualServiceSpec } from '../../contract/istio-schema.js';
import { QuickActionSchema, type QuickAction } from '../../contract/quick-actions.js';
import type { ServiceInfo } from '../registry.js';
import type { Snapshot } from '../snapshot.js';
import { qualifyHost } from './hosts.js';
import { findDestinationRule } from './compile.js';

export const FAULT_RULE_NAME = 'localmesh-fault';

interface Target {
  file: string;
  before: string;
  /** The document to edit, or null when a new VirtualService is appended/created. */
  doc: Document.Parsed | null;
  docs: Document.Parsed[];
  vsName: string;
}

export function planQuickAction(input: QuickAction, snap: Snapshot, istioPaths: string[], baseDir: string): EditPlan {
  const action = QuickActionSchema.parse(input);
  if (action.type === 'mtls-strict') return planStrict(action.scope, action.workload, snap, istioPaths, baseDir);
  const service = findService(action.service, snap);
  const short = service.namespace === snap.mesh.spec.namespace ? service.name : `${service.name}.${service.namespace}`;
  const target = findTarget(service, snap, istioPaths, baseDir);
  const doc = target.doc ?? newVirtualService(short, target.vsName);
  const http = ensureHttp(doc, short);
  const rules = http.items as YAMLMap[];
  const selected = (rule: number | undefined) => {
    if (rule !== undefined && !rules[rule])
      throw new MeshError(
        ErrorCodes.BAD_REQUEST,
        `VirtualService ${target.vsName} has no rule ${rule} (it has ${rules.length})`
      );
    return rules.filter((r, i) => (rule === undefined || i === rule) && r.has('route'));
  };
  let summary = '';

  switch (action.type) {
    case 'fault': {
      if (action.delayMs === undefined && action.abortStatus === undefined)
        throw new MeshError(ErrorCodes.BAD_REQUEST, 'a fault needs a delay, an abort status, or both');
      const fault: Record<string, unknown> = {};
      if (action.delayMs !== undefined)
        fault.delay = { fixedDelay: `${action.delayMs}ms`, percentage: { value: action.percentage } };
      if (action.abortStatus !== undefined)
        fault.abort = { httpStatus: action.abortStatus, percentage: { value: action.percentage } };
      const what = [
        action.delayMs !== undefined ? `delay ${action.delayMs} ms` : '',
        action.abortStatus !== undefined ? `abort ${action.abortStatus}` : ''
      ]
        .filter(Boolean)
        .join(' and ');
      if (action.header || action.from) {
        const match: Record<string, unknown> = {};
        const only: string[] = [];
        if (action.from) {
          const caller = snap.registry.workloadByName.get(action.from);
          if (!caller) throw new MeshError(ErrorCodes.NOT_FOUND, `no workload ${action.from} to limit the fault to`);
          if (Object.keys(caller.labels).length === 0)
            throw new MeshError(
              ErrorCodes.BAD_REQUEST,
              `workload ${action.from} has no labels, so no sourceLabels match can single it out`
            );
          match.sourceLabels = { ...caller.labels };
          only.push(`from ${action.from}`);
        }
        if (action.header) {
          match.headers = { [action.header.name.toLowerCase()]: { exact: action.header.value } };
          only.push(`carrying ${action.header.name}: ${action.header.value}`);
        }
        removeFaultRule(http);
        const base = rules.find((r) => !r.has('match') && r.has('route')) ?? rules.find((r) => r.has('route'));
        const route = base
          ? (base.get('route', true) as unknown as YAMLSeq).toJSON()
          : [{ destination: { host: short } }];
        const rule = doc.createNode({ name: FAULT_RULE_NAME, match: [match], fault, route });
        http.items.unshift(rule);
        summary = `Inject ${what} for ${action.percentage}% of requests to ${short} ${only.join(' and ')} (a new first rule "${FAULT_RULE_NAME}")`;
      } else {
        const list = selected(action.rule);
        for (const r of list) r.set('fault', doc.createNode(fault));
        summary = `Inject ${what} for ${action.percentage}% of requests to ${short} (${list.length} rule${list.length === 1 ? '' : 's'} of VirtualService ${target.vsName})`;
      }
      break;
    }
    case 'clear-fault': {
      const removed = removeFaultRule(http);
      let n = 0;
      for (const r of selected(action.rule)) if (r.delete('fault')) n++;
      summary = `Remove the fault from ${short} (${n} rule${n === 1 ? '' : 's'}${removed ? `, and the "${FAULT_RULE_NAME}" rule` : ''})`;
      break;
    }
    case 'shift': {
      const subsets = Object.entries(action.weights).filter(([, w]) => w > 0);
      // only subsets a DestinationRule defines: a route to another one is answered 503 NC
      const defined = [
        ...(findDestinationRule(snap.destinationRules, service.fqdn, service.namespace, undefined)?.subsets.keys() ??
          [])
      ];
      const unknown = subsets.map(([s]) => s).filter((s) => !defined.includes(s));
      if (unknown.length > 0)
        throw new MeshError(
          ErrorCodes.BAD_REQUEST,
          `no subset ${unknown.join(', ')} of ${short}: ${defined.length > 0 ? `its DestinationRule defines ${defined.join(', ')}` : 'no DestinationRule defines subsets for it'}`
        );
      let catchAll = rules.find(
        (r) => !r.has('match') && !r.has('redirect') && !r.has('directResponse') && !r.has('delegate')
      );
      if (!catchAll) {
        catchAll = doc.createNode({ route: [] }) as YAMLMap;
        http.items.push(catchAll);
      }
      catchAll.set(
        'route',
        doc.createNode(subsets.map(([subset, weight]) => ({ destination: { host: short, subset }, weight })))
      );
      summary = `Shift traffic to ${short}: ${subsets.map(([s, w]) => `${s} ${w}`).join(', ')} (relative weights)`;
      break;
    }
    case 'timeout': {
      const list = selected(action.rule);
      for (const r of list) {
        if (action.timeoutMs) r.set('timeout', `${action.timeoutMs}ms`);
        else r.delete('timeout');
        if (action.retries) {
          const retries: Record<string, unknown> = { attempts: action.retries.attempts };
          if (action.retries.attempts > 0 && action.retries.perTryTimeoutMs)
            retries.perTryTimeout = `${action.retries.perTryTimeoutMs}ms`;
          if (action.retries.attempts > 0 && action.retries.retryOn) retries.retryOn = action.retries.retryOn;
          r.set('retries', doc.createNode(retries));
        }
      }
      summary = `Set ${action.timeoutMs ? `a ${action.timeoutMs} ms timeout` : 'no timeout'}${action.retries ? ` and ${action.retries.attempts} retr${action.retries.attempts === 1 ? 'y' : 'ies'}` : ''} on ${list.length} rule${list.length === 1 ? '' : 's'} of ${short}`;
      break;
    }
  }

  const after = serialize(target, doc);
  return { path: target.file, relative: path.relative(baseDir, target.file), before: target.before, after, summary };
}

/** A PeerAuthentication with mode STRICT for a workload (selector on its labels) or its namespace. */
function planStrict(
  scope: 'workload' | 'namespace',
  workload: string,
  snap: Snapshot,
  istioPaths: string[],
  baseDir: string
): EditPlan {
  const w = snap.registry.workloadByName.get(workload);
  if (!w) throw new MeshError(ErrorCodes.NOT_FOUND, `no workload "${workload}" in the mesh`);
  const sel = scope === 'workload' ? w.labels : undefined;
  const sameScope = (r: IstioResource) => {
    const spec = r.spec as { selector?: { matchLabels?: Record<string, string> } } | null;
    const ml = spec?.selector?.matchLabels;
    return (
      r.kind === 'PeerAuthentication' &&
      r.namespace === w.namespace &&
      (sel ? JSON.stringify(ml ?? {}) === JSON.stringify(sel) : !ml || Object.keys(ml).length === 0)
    );
  };
  const what = scope === 'workload' ? `workload ${w.name}` : `namespace ${w.namespace}`;
  const existing = snap.resources.filter(sameScope).sort((a, b) => a.order - b.order)[0];
  if (existing) {
    const before = fs.readFileSync(existing.where.file, 'utf8');
    const docs = YAML.parseAllDocuments(before);
    const doc = docs.find((d) => {
      const j = d.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      return j?.kind === 'PeerAuthentication' && j.metadata?.name === existing.name;
    });
    if (doc) {
      doc.setIn(['spec', 'mtls', 'mode'], 'STRICT');
      doc.deleteIn(['spec', 'portLevelMtls']);
      const after = serialize({ file: existing.where.file, before, doc, docs, vsName: existing.name }, doc);
      return {
        path: existing.where.file,
        relative: path.relative(baseDir, existing.where.file),
        before,
        after,
        summary: `Require mutual TLS (STRICT) for ${what}: PeerAuthentication ${existing.namespace}/${existing.name}`
      };
    }
  }
  const first = istioPaths[0];
  if (!first)
    throw new MeshError(
      ErrorCodes.BAD_REQUEST,
      'the mesh file lists no istio: paths to write a PeerAuthentication into'
    );
  const isDir = !/\.(ya?ml|json)$/i.test(first) || (fs.existsSync(first) && fs.statSync(first).isDirectory());
  const name = scope === 'workload' ? `${w.name}-strict` : 'default';
  const file = isDir
    ? path.join(first, `peer-authentication-${scope === 'workload' ? w.name : w.namespace}.yaml`)
    : first;
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const spec: Record<string, unknown> = {};
  if (sel) spec.selector = { matchLabels: sel };
  spec.mtls = { mode: 'STRICT' };
  const doc = YAML.parseDocument(
    YAML.stringify({
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name, namespace: w.namespace },
      spec
    })
  );
  const after = serialize({ file, before, doc: null, docs: YAML.parseAllDocuments(before), vsName: name }, doc);
  return {
    path: file,
    relative: path.relative(baseDir, file),
    before,
    after,
    summary: `Require mutual TLS (STRICT) for ${what}: a new PeerAuthentication ${w.namespace}/${name}; callers without a sidecar are refused`
  };
}

function findService(name: string, snap: Snapshot): ServiceInfo {
  const [n, ns] = name.includes('.') ? (name.split('.', 2) as [string, string]) : [name, snap.mesh.spec.namespace];
  const svc = snap.registry.serviceByFqdn.get(`${n}.${ns}.svc.cluster.local`) ?? snap.registry.serviceByFqdn.get(name);
  if (!svc)
    throw new MeshError(
      ErrorCodes.NOT_FOUND,
      `no service "${name}" in the mesh (services: ${snap.registry.services.map((s) => s.name).join(', ')})`
    );
  return svc;
}

/** The VirtualService for the service (the first one sidecars use), or a place for a new one. */
function findTarget(service: ServiceInfo, snap: Snapshot, istioPaths: string[], baseDir: string): Target {
  const vs = snap.resources
    .filter((r): r is IstioResource<VirtualServiceSpec> => r.kind === 'VirtualService')
    .filter((r) => (r.spec.hosts ?? []).some((h) => qualifyHost(h, r.namespace) === service.fqdn))
    .filter((r) => !r.spec.gateways || r.spec.gateways.length === 0 || r.spec.gateways.includes('mesh'))
    .sort((a, b) => a.order - b.order)[0];
  if (vs) {
    const before = fs.readFileSync(vs.where.file, 'utf8');
    const docs = YAML.parseAllDocuments(before);
    const doc = docs.find((d) => {
      const j = d.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null;
      return (
        j?.kind === 'VirtualService' &&
        j.metadata?.name === vs.name &&
        (j.metadata.namespace ?? snap.mesh.spec.namespace) === vs.namespace
      );
    });
    if (doc) return { file: vs.where.file, before, doc, docs, vsName: vs.name };
  }
  // no VirtualService yet: a new file in the first Istio folder (or a new document in the first Istio file)
  const first = istioPaths[0];
  if (!first)
    throw new MeshError(
      ErrorCodes.BAD_REQUEST,
      `the mesh file lists no istio: paths to write a VirtualService for ${service.name} into; add "istio: [./istio]" to spec`
    );
  const isDir = !/\.(ya?ml|json)$/i.test(first) || (fs.existsSync(first) && fs.statSync(first).isDirectory());
  const file = isDir ? path.join(first, `${service.name}-virtual-service.yaml`) : path.resolve(baseDir, first);
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  return { file, before, doc: null, docs: YAML.parseAllDocuments(before), vsName: service.name };
}

function newVirtualService(host: string, name: string): Document.Parsed {
  const text = YAML.stringify({
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name },
    spec: { hosts: [host], http: [] }
  });
  return YAML.parseDocument(text);
}

function ensureHttp(doc: Document.Parsed, host: string): YAMLSeq {
  let http = doc.getIn(['spec', 'http'], true);
  if (!isSeq(http)) {
    doc.setIn(['spec', 'http'], doc.createNode([]));
    http = doc.getIn(['spec', 'http'], true);
  }
  const seq = http as YAMLSeq;
  if (seq.items.length === 0) seq.items.push(doc.createNode({ route: [{ destination: { host } }] }));
  for (const item of seq.items)
    if (!isMap(item))
      throw new MeshError(
        ErrorCodes.BAD_REQUEST,
        'the VirtualService has an http rule that is not a map; fix the file first'
      );
  return seq;
}

function removeFaultRule(http: YAMLSeq): boolean {
  const before = http.items.length;
  http.items = http.items.filter((r) => !(isMap(r) && r.get('name') === FAULT_RULE_NAME));
  return http.items.length !== before;
}

/** Splice the edited document back into the original text, keeping the file's sequence indentation style. */
function serialize(t: Target, doc: Document.Parsed): string {
  const compactSeq = /^( *)[\w.-]+:\s*\n\1- /m.test(t.before) || t.before === '';
  const opts = { indentSeq: !compactSeq, lineWidth: 0 };
  if (t.doc === null) {
    const text = doc.toString(opts);
    if (t.before.trim() === '') return text;
    return `${t.before.replace(/\n*$/, '\n')}---\n${text}`;
  }
  // replace the whole document (its leading comments are part of what is re-serialized) and nothing else
  const i = t.docs.indexOf(t.doc);
  const start = i <= 0 ? 0 : t.doc.range[0];
  const end = t.doc.range[2];
  const tmp = new YAML.Document();
  tmp.contents = doc.contents;
  const marker = i > 0 || t.doc.directives?.docStart ? '---\n' : '';
  return t.before.slice(0, start) + marker + tmp.toString(opts) + t.before.slice(end).replace(/^\n/, '');
}
