import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ValidationIssue } from '../../contract/api.js';
import type { IstioResource } from '../../contract/istio-schema.js';
import { MeshFile } from '../../contract/mesh-schema.js';
import { loadIstio } from './load-istio.js';
import { loadProject } from './load-project.js';
import { ISTIO_ISSUE_CODES, IstioCodes, validateIstio } from './validate-istio.js';

const BOOKINFO = path.resolve(import.meta.dirname, '../../../../shared/fixtures/istio-bookinfo');
const root = mkdtempSync(path.join(os.tmpdir(), 'localmesh-validate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const MESH = MeshFile.parse({
  apiVersion: 'localmesh.dev/v1alpha1',
  kind: 'Mesh',
  spec: {
    services: [
      {
        name: 'reviews',
        port: 9080,
        workloads: [
          { name: 'reviews-v1', labels: { app: 'reviews', version: 'v1' }, instances: ['127.0.0.1:19081'] },
          { name: 'reviews-v2', labels: { app: 'reviews', version: 'v2' }, instances: ['127.0.0.1:19082'] }
        ]
      },
      {
        name: 'ratings',
        port: 9080,
        workloads: [{ name: 'ratings-v1', labels: { app: 'ratings', version: 'v1' }, instances: ['127.0.0.1:19091'] }]
      }
    ]
  }
});

let counter = 0;
/** Write `text`, load it (it must load without errors) and validate it against MESH. */
function run(text: string, mesh: MeshFile = MESH): { file: string; issues: ValidationIssue[] } {
  const file = path.join(root, `case-${++counter}.yaml`);
  writeFileSync(file, text);
  const loaded = loadIstio([file], 'default');
  expect(loaded.issues.filter((i) => i.severity === 'error')).toEqual([]);
  return { file, issues: validateIstio(loaded.resources, mesh, loaded.posOf) };
}

type At = string | { after: string };
/** 1-based position of the first occurrence of a needle (or of the text right after `after`). */
function loc(text: string, at: At): { line: number; column: number } {
  const needle = typeof at === 'string' ? at : at.after;
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`needle not found: ${needle}`);
  const offset = typeof at === 'string' ? i : i + needle.length;
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

interface Expected {
  severity: ValidationIssue['severity'];
  code: string;
  at: At;
  path: string;
  message?: RegExp;
}

/** Assert that validating `text` yields exactly `expected` (code, severity, path, line and column). */
function expectIssues(text: string, expected: Expected[], mesh: MeshFile = MESH): void {
  const { file, issues } = run(text, mesh);
  expect(issues.map((i) => ({ severity: i.severity, code: i.code, path: i.path, where: i.where }))).toEqual(
    expected.map((e) => ({ severity: e.severity, code: e.code, path: e.path, where: { file, ...loc(text, e.at) } }))
  );
  expected.forEach((e, k) => {
    if (e.message) expect(issues[k]!.message).toMatch(e.message);
    expect(issues[k]!.resource).toMatch(/^\w+ default\//);
  });
}

function vs(http: string, opts: { name?: string; hosts?: string; head?: string } = {}): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${opts.name ?? 'reviews'}
spec:
  hosts: [${opts.hosts ?? 'reviews'}]
${opts.head ?? ''}  http:
${http}`;
}

const DR = `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
`;

function dr(body: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
${body}`;
}

const TO_REVIEWS = '    route:\n    - destination: {host: reviews}\n';
const err = 'error' as const;
const warn = 'warning' as const;

describe('ISTIO_ISSUE_CODES', () => {
  it('documents every code', () => {
    for (const code of Object.values(IstioCodes)) expect(ISTIO_ISSUE_CODES[code]).toBeTruthy();
    expect(Object.keys(ISTIO_ISSUE_CODES).sort()).toEqual([...new Set(Object.values(IstioCodes))].sort());
  });
});

describe('destinations and subsets', () => {
  it('IST0101: destination host that names no service', () => {
    expectIssues(vs('  - route:\n    - destination: {host: reviewz}\n'), [
      {
        severity: err,
        code: 'IST0101',
        at: 'reviewz',
        path: 'spec.http[0].route[0].destination.host',
        message: /reviewz.default.svc.cluster.local\) is not a service in the mesh/
      }
    ]);
  });

  it('accepts FQDN and ServiceEntry hosts', () => {
    const se =
      '---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext}\nspec:\n  hosts: [api.example.com]\n  ports: [{number: 443, name: https, protocol: HTTPS}]\n  resolution: DNS\n';
    expectIssues(
      vs(
        '  - route:\n    - destination: {host: ratings.default.svc.cluster.local}\n    - destination: {host: api.example.com}\n      weight: 1\n'
      ) + se,
      []
    );
  });

  it('IST0101: subset not defined in any DestinationRule for the host', () => {
    expectIssues(vs('  - route:\n    - destination: {host: reviews, subset: v9}\n') + DR, [
      {
        severity: err,
        code: 'IST0101',
        at: 'v9',
        path: 'spec.http[0].route[0].destination.subset',
        message:
          /subset "v9" of host reviews.default.svc.cluster.local is not defined in any DestinationRule \(defined subsets: v1, v2\)/
      }
    ]);
  });

  it('IST0101: subset when no DestinationRule has the host', () => {
    expectIssues(vs('  - route:\n    - destination: {host: reviews, subset: v1}\n'), [
      {
        severity: err,
        code: 'IST0101',
        at: 'v1}',
        path: 'spec.http[0].route[0].destination.subset',
        message: /no DestinationRule has this host/
      }
    ]);
  });

  it('IST0101: destination port that the service does not expose', () => {
    expectIssues(vs('  - route:\n    - destination: {host: reviews, port: {number: 9999}}\n'), [
      { severity: err, code: 'IST0101', at: '9999', path: 'spec.http[0].route[0].destination.port.number' }
    ]);
  });

  it('IST0112: destination without port for a service with several ports', () => {
    const se =
      '---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext}\nspec:\n  hosts: [api.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: https, protocol: HTTPS}]\n  resolution: DNS\n';
    expectIssues(vs('  - route:\n    - destination: {host: api.example.com}\n', { hosts: 'api.example.com' }) + se, [
      { severity: err, code: 'IST0112', at: '{host: api.example.com}', path: 'spec.http[0].route[0].destination' }
    ]);
  });

  it('IST0173: DestinationRule subset whose labels select no workload', () => {
    expectIssues(
      dr(
        '  host: reviews\n  subsets:\n  - name: v1\n    labels: {version: v1}\n  - name: v3\n    labels: {version: v3}\n'
      ),
      [
        {
          severity: warn,
          code: 'IST0173',
          at: '{version: v3}',
          path: 'spec.subsets[1].labels',
          message: /subset "v3" selects no workload of reviews.default.svc.cluster.local/
        }
      ]
    );
  });

  it('IST0174: DestinationRule host that names no service', () => {
    expectIssues(dr('  host: nosuch\n'), [{ severity: warn, code: 'IST0174', at: 'nosuch', path: 'spec.host' }]);
  });

  it('weights: all zero with several destinations is an error; one destination with weight 0 is fine', () => {
    expectIssues(
      vs('  - route:\n    - destination: {host: reviews}\n      weight: 0\n    - destination: {host: ratings}\n'),
      [
        {
          severity: err,
          code: 'IST0106',
          at: '- destination',
          path: 'spec.http[0].route',
          message: /all 2 destinations have weight 0/
        }
      ]
    );
    expectIssues(vs('  - route:\n    - destination: {host: reviews}\n      weight: 0\n'), []);
    expectIssues(
      vs(
        '  - route:\n    - destination: {host: reviews}\n      weight: 0\n    - destination: {host: ratings}\n      weight: 1\n'
      ),
      []
    );
  });

  it('a gateway-only VirtualService gets an info note, and unknown hosts there are warnings', () => {
    const text = vs('  - route:\n    - destination: {host: frontend}\n', {
      hosts: '"*"',
      head: '  gateways: [my-gateway]\n'
    });
    expectIssues(text, [
      {
        severity: 'info',
        code: 'IST0020',
        at: '[my-gateway]',
        path: 'spec.gateways',
        message: /add "mesh" to gateways/
      },
      { severity: warn, code: 'IST0101', at: 'frontend', path: 'spec.http[0].route[0].destination.host' }
    ]);
  });
});

describe('route actions', () => {
  it('route with redirect', () => {
    expectIssues(vs(`${'  - route:\n    - destination: {host: reviews}\n'}    redirect: {uri: /x}\n`), [
      {
        severity: err,
        code: 'IST0106',
        at: '{uri: /x}',
        path: 'spec.http[0].redirect',
        message: /both route and redirect/
      }
    ]);
  });

  it('route with directResponse', () => {
    expectIssues(vs(`  - directResponse: {status: 503}\n${TO_REVIEWS}`), [
      {
        severity: err,
        code: 'IST0106',
        at: '{status: 503}',
        path: 'spec.http[0].directResponse',
        message: /both route and directResponse/
      }
    ]);
  });

  it('redirect with rewrite', () => {
    expectIssues(vs('  - redirect: {uri: /x}\n    rewrite: {uri: /y}\n'), [
      {
        severity: err,
        code: 'IST0106',
        at: '{uri: /y}',
        path: 'spec.http[0].rewrite',
        message: /rewrite cannot be combined with redirect/
      }
    ]);
  });

  it('directResponse with fault', () => {
    expectIssues(
      vs('  - directResponse: {status: 503}\n    fault: {abort: {httpStatus: 500, percentage: {value: 10}}}\n'),
      [
        {
          severity: err,
          code: 'IST0106',
          at: '{abort',
          path: 'spec.http[0].fault',
          message: /fault cannot be combined with directResponse/
        }
      ]
    );
  });

  it('rewrite.uri with rewrite.uriRegexRewrite', () => {
    expectIssues(vs(`  - rewrite:\n      uri: /a\n      uriRegexRewrite: {match: ^/b, rewrite: /c}\n${TO_REVIEWS}`), [
      { severity: err, code: 'IST0106', at: '{match: ^/b', path: 'spec.http[0].rewrite.uriRegexRewrite' }
    ]);
  });

  it('mirror with mirrors', () => {
    expectIssues(
      vs(
        `${TO_REVIEWS.replace('    route', '  - route')}    mirror: {host: ratings}\n    mirrors:\n    - destination: {host: ratings}\n`
      ),
      [
        {
          severity: err,
          code: 'IST0106',
          at: '- destination: {host: ratings}',
          path: 'spec.http[0].mirrors',
          message: /only one of mirror and mirrors/
        }
      ]
    );
  });

  it('a rule with no action', () => {
    expectIssues(vs('  - name: nothing\n    timeout: 1s\n'), [
      { severity: err, code: 'IST0106', at: 'name: nothing', path: 'spec.http[0]', message: /no action/ }
    ]);
  });

  it('authority rewritten twice', () => {
    const text = vs(
      `  - rewrite: {authority: a.example}\n    headers:\n      request:\n        set: {host: b.example}\n${TO_REVIEWS}`
    );
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: 'b.example',
        path: 'spec.http[0].headers.request.set.host',
        message: /rewritten more than once \(also at spec.http\[0\].rewrite.authority\)/
      }
    ]);
  });
});

describe('unreachable rules', () => {
  it('IST0130: a rule after a rule without match', () => {
    expectIssues(vs(`  - route:\n    - destination: {host: reviews}\n  - name: late\n${TO_REVIEWS}`), [
      {
        severity: warn,
        code: 'IST0130',
        at: 'name: late',
        path: 'spec.http[1]',
        message: /"late" \(spec.http\[1\]\) is never used: rule spec.http\[0\] before it has no match/
      }
    ]);
  });

  it('IST0130: a rule after a match block without request conditions', () => {
    const text = vs(
      `  - match:\n    - name: everything\n      gateways: [mesh]\n      ignoreUriCase: true\n      uri: {prefix: /}\n${TO_REVIEWS}  - name: late\n    match:\n    - uri: {prefix: /x}\n${TO_REVIEWS}  - name: later\n${TO_REVIEWS}`
    );
    expectIssues(text, [
      { severity: warn, code: 'IST0130', at: 'name: late', path: 'spec.http[1]' },
      { severity: warn, code: 'IST0130', at: 'name: later', path: 'spec.http[2]' }
    ]);
  });

  it('no warning when the earlier match is restricted to some callers or has conditions', () => {
    expectIssues(
      vs(
        `  - match:\n    - sourceLabels: {app: productpage}\n${TO_REVIEWS}  - match:\n    - headers: {end-user: {exact: jason}}\n${TO_REVIEWS}  - name: last\n${TO_REVIEWS}`
      ),
      []
    );
  });

  it("IST0131: a match that repeats an earlier one; IST0130 when all of a rule's matches do", () => {
    const text = vs(
      `  - match:\n    - uri: {prefix: /a}\n${TO_REVIEWS}  - match:\n    - name: again\n      uri: {prefix: /a}\n    - uri: {prefix: /b}\n${TO_REVIEWS}  - name: dup\n    match:\n    - uri: {prefix: /b}\n${TO_REVIEWS}`
    );
    expectIssues(text, [
      {
        severity: 'info',
        code: 'IST0131',
        at: 'name: again',
        path: 'spec.http[1].match[0]',
        message: /repeats spec.http\[0\].match\[0\]/
      },
      {
        severity: warn,
        code: 'IST0130',
        at: 'name: dup',
        path: 'spec.http[2]',
        message: /every one of its matches is already matched/
      },
      {
        severity: 'info',
        code: 'IST0131',
        at: { after: 'name: dup\n    match:\n    - ' },
        path: 'spec.http[2].match[0]'
      }
    ]);
  });
});

describe('string matches', () => {
  const match = (m: string) => vs(`  - match:\n    - ${m}\n${TO_REVIEWS}`);

  it('needs exactly one of exact/prefix/regex', () => {
    expectIssues(match('uri: {}'), [
      {
        severity: err,
        code: 'IST0106',
        at: '{}',
        path: 'spec.http[0].match[0].uri',
        message: /exactly one of exact, prefix or regex/
      }
    ]);
    expectIssues(match('uri: {exact: /x, prefix: /y}'), [
      {
        severity: err,
        code: 'IST0106',
        at: '/y',
        path: 'spec.http[0].match[0].uri.prefix',
        message: /found exact and prefix/
      }
    ]);
  });

  it('rejects an empty prefix or regex, the uri included (Istio: "prefix string match should not be empty")', () => {
    expectIssues(match('headers: {x-user: {prefix: ""}}'), [
      { severity: err, code: 'IST0106', at: '""', path: 'spec.http[0].match[0].headers["x-user"].prefix' }
    ]);
    expectIssues(match('method: {regex: ""}'), [
      { severity: err, code: 'IST0106', at: '""', path: 'spec.http[0].match[0].method.regex' }
    ]);
    expectIssues(match('uri: {prefix: ""}'), [
      { severity: err, code: 'IST0106', at: '""', path: 'spec.http[0].match[0].uri.prefix' }
    ]);
  });

  it('IST0122: regex that is not valid RE2', () => {
    expectIssues(match('uri: {regex: "/a(?=b)"}'), [
      {
        severity: err,
        code: 'IST0122',
        at: '"/a(?=b)"',
        path: 'spec.http[0].match[0].uri.regex',
        message: /not valid RE2/
      }
    ]);
    expectIssues(match('headers: {x: {regex: "a{2,1}"}}'), [
      { severity: err, code: 'IST0122', at: '"a{2,1}"', path: 'spec.http[0].match[0].headers.x.regex' }
    ]);
    expectIssues(match('uri: {regex: "/v[0-9]+/.*"}'), []);
  });

  it('allows {} and regex "*" for header presence in headers and withoutHeaders, not in queryParams', () => {
    expectIssues(match('headers: {x-user: {}}\n      withoutHeaders: {x-debug: {regex: "*"}}'), []);
    expectIssues(match('headers: {x-user: {regex: "*"}}'), []);
    expectIssues(match('queryParams: {q: {regex: "*"}}'), [
      { severity: err, code: 'IST0122', at: '"*"', path: 'spec.http[0].match[0].queryParams.q.regex' }
    ]);
  });
});

describe('fault injection', () => {
  const fault = (f: string) => vs(`  - fault: ${f}\n${TO_REVIEWS}`);

  it('abort httpStatus outside 200-599', () => {
    expectIssues(fault('{abort: {httpStatus: 700, percentage: {value: 50}}}'), [
      { severity: err, code: 'IST0106', at: '700', path: 'spec.http[0].fault.abort.httpStatus' }
    ]);
  });

  it('percentage outside 0-100', () => {
    expectIssues(fault('{delay: {fixedDelay: 1s, percentage: {value: 150}}}'), [
      { severity: err, code: 'IST0106', at: '150', path: 'spec.http[0].fault.delay.percentage.value' }
    ]);
  });

  it('delay without fixedDelay; exponentialDelay', () => {
    expectIssues(fault('{delay: {percentage: {value: 10}}}'), [
      {
        severity: err,
        code: 'IST0106',
        at: '{percentage',
        path: 'spec.http[0].fault.delay',
        message: /needs fixedDelay/
      }
    ]);
    expectIssues(fault('{delay: {exponentialDelay: 1s}}'), [
      {
        severity: err,
        code: 'IST0106',
        at: '1s',
        path: 'spec.http[0].fault.delay.exponentialDelay',
        message: /not supported/
      }
    ]);
  });

  it('abort with neither httpStatus nor grpcStatus; fault with neither delay nor abort', () => {
    expectIssues(fault('{abort: {percentage: {value: 10}}}'), [
      { severity: err, code: 'IST0106', at: '{percentage', path: 'spec.http[0].fault.abort', message: /httpStatus/ }
    ]);
    expectIssues(fault('{}'), [
      { severity: err, code: 'IST0106', at: '{}', path: 'spec.http[0].fault', message: /delay, an abort or both/ }
    ]);
  });
});

describe('redirect and directResponse', () => {
  it('redirectCode must be 301, 302, 303, 307 or 308', () => {
    expectIssues(vs('  - redirect: {uri: /x, redirectCode: 305}\n'), [
      { severity: err, code: 'IST0106', at: '305', path: 'spec.http[0].redirect.redirectCode' }
    ]);
    expectIssues(vs('  - redirect: {uri: /x, redirectCode: 308}\n'), []);
  });

  it('an empty redirect uri is unset, as in the proto: alone it is no redirect target', () => {
    expectIssues(vs('  - redirect: {uri: ""}\n'), [
      {
        severity: err,
        code: 'IST0106',
        at: '{uri',
        path: 'spec.http[0].redirect',
        message: /redirect must set uri, authority, scheme or port/
      }
    ]);
  });

  it('mirrorPercentage {} is a percentage of 0 (a proto double), accepted', () => {
    expectIssues(
      vs('  - route:\n    - destination: {host: reviews}\n    mirror: {host: reviews}\n    mirrorPercentage: {}\n'),
      []
    );
  });

  it('directResponse status outside 200-599', () => {
    expectIssues(vs('  - directResponse: {status: 700}\n'), [
      { severity: err, code: 'IST0106', at: '700', path: 'spec.http[0].directResponse.status' }
    ]);
  });

  it('directResponse body with both string and bytes, or bytes not base64', () => {
    expectIssues(vs('  - directResponse: {status: 200, body: {string: hi, bytes: aGk=}}\n'), [
      { severity: err, code: 'IST0106', at: '{string', path: 'spec.http[0].directResponse.body' }
    ]);
    expectIssues(vs('  - directResponse: {status: 200, body: {bytes: "not base64!"}}\n'), [
      {
        severity: err,
        code: 'IST0106',
        at: '"not base64!"',
        path: 'spec.http[0].directResponse.body.bytes',
        message: /base64/
      }
    ]);
    expectIssues(vs('  - directResponse: {status: 200, body: {bytes: aGVsbG8=}}\n'), []);
  });
});

describe('retries and timeouts', () => {
  const retries = (r: string) => vs(`  - retries: ${r}\n${TO_REVIEWS}`);

  it('retryOn entries must be Envoy conditions or status codes Go names (Istio: http.StatusText)', () => {
    expectIssues(retries('{attempts: 2, retryOn: "5xx,bogus"}'), [
      {
        severity: err,
        code: 'IST0106',
        at: '"5xx,bogus"',
        path: 'spec.http[0].retries.retryOn',
        message: /"bogus" is not a valid retryOn condition/
      }
    ]);
    expectIssues(retries('{attempts: 2, retryOn: "connect-failure,600"}'), [
      {
        severity: err,
        code: 'IST0106',
        at: '"connect-failure,600"',
        path: 'spec.http[0].retries.retryOn',
        message: /600/
      }
    ]);
    expectIssues(retries('{attempts: 2, retryOn: "gateway-error,503,retriable-status-codes"}'), []);
    for (const code of ['599', '420', '306'])
      expectIssues(retries(`{attempts: 2, retryOn: "5xx,${code}"}`), [
        {
          severity: err,
          code: 'IST0106',
          at: `"5xx,${code}"`,
          path: 'spec.http[0].retries.retryOn',
          message: new RegExp(`${code} is not a valid HTTP status code`)
        }
      ]);
    expectIssues(retries('{attempts: 2, retryOn: "418,425,511"}'), []);
  });

  it('perTryTimeout, timeout and backoff must be at least 1ms', () => {
    expectIssues(retries('{attempts: 2, perTryTimeout: 0s}'), [
      { severity: err, code: 'IST0106', at: '0s', path: 'spec.http[0].retries.perTryTimeout', message: /at least 1ms/ }
    ]);
    expectIssues(vs(`  - timeout: 0.5ms\n${TO_REVIEWS}`), [
      { severity: err, code: 'IST0106', at: '0.5ms', path: 'spec.http[0].timeout' }
    ]);
    expectIssues(retries('{attempts: 2, backoff: 0ms}'), [
      { severity: err, code: 'IST0106', at: '0ms', path: 'spec.http[0].retries.backoff' }
    ]);
  });

  it('retry settings without attempts', () => {
    expectIssues(retries('{retryOn: 5xx}'), [
      { severity: err, code: 'IST0106', at: '{retryOn', path: 'spec.http[0].retries', message: /attempts is missing/ }
    ]);
  });

  it('attempts < 0 (when a resource bypasses the load schema)', () => {
    const where = { file: 'x.yaml', line: 3, column: 4 };
    const r: IstioResource = {
      kind: 'VirtualService',
      apiVersion: 'networking.istio.io/v1',
      name: 'reviews',
      namespace: 'default',
      annotations: {},
      labels: {},
      spec: {
        hosts: ['reviews'],
        http: [{ route: [{ destination: { host: 'reviews' } }], retries: { attempts: -1 } }]
      },
      where,
      order: 0
    };
    const issues = validateIstio([r], MESH, () => where);
    expect(issues).toEqual([
      expect.objectContaining({
        severity: 'error',
        code: 'IST0106',
        path: 'spec.http[0].retries.attempts',
        where,
        resource: 'VirtualService default/reviews'
      })
    ]);
  });
});

describe('VirtualServices sharing a host', () => {
  it('IST0109: the later VirtualService for a host is ignored by sidecars', () => {
    const text = `${vs(`${TO_REVIEWS.replace('    route', '  - route')}`)}---\n${vs(TO_REVIEWS.replace('    route', '  - route'), { name: 'reviews-canary', hosts: 'reviews.default.svc.cluster.local' })}`;
    expectIssues(text, [
      {
        severity: warn,
        code: 'IST0109',
        at: 'reviews.default.svc.cluster.local',
        path: 'spec.hosts[0]',
        message: /also claimed by VirtualService default\/reviews at case-\d+\.yaml:6:11, which was loaded first/
      }
    ]);
  });

  it('no conflict when the other VirtualService applies only to a gateway', () => {
    const gw = vs(TO_REVIEWS.replace('    route', '  - route'), { name: 'edge', head: '  gateways: [edge-gw]\n' });
    const { issues } = run(`${vs(TO_REVIEWS.replace('    route', '  - route'))}---\n${gw}`);
    expect(issues.map((i) => i.code)).toEqual(['IST0020']);
  });
});

describe('delegation', () => {
  const delegateVs = (name: string, http: string) =>
    `---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}}\nspec:\n  http:\n${http}`;

  it('a valid one-level delegation has no issues', () => {
    expectIssues(
      vs('  - match:\n    - uri: {prefix: /api}\n    delegate: {name: api-routes}\n') +
        delegateVs('api-routes', TO_REVIEWS.replace('    route', '  - route')),
      []
    );
  });

  it('IST0101: delegate target not found', () => {
    expectIssues(vs('  - delegate: {name: nope}\n'), [
      {
        severity: err,
        code: 'IST0101',
        at: '{name: nope}',
        path: 'spec.http[0].delegate',
        message: /default\/nope not found/
      }
    ]);
  });

  it('IST0021: delegate target with hosts', () => {
    const target = vs(TO_REVIEWS.replace('    route', '  - route'), { name: 'ratings-vs', hosts: 'ratings' });
    expectIssues(`${vs('  - delegate: {name: ratings-vs}\n')}---\n${target}`, [
      { severity: err, code: 'IST0021', at: '{name: ratings-vs}', path: 'spec.http[0].delegate', message: /has hosts/ }
    ]);
  });

  it('IST0021: a delegate that delegates again', () => {
    const text =
      vs('  - delegate: {name: level1}\n') +
      delegateVs('level1', '  - delegate: {name: level2}\n') +
      delegateVs('level2', TO_REVIEWS.replace('    route', '  - route'));
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0021',
        at: '{name: level2}',
        path: 'spec.http[0].delegate',
        message: /only one level deep/
      }
    ]);
  });

  it('delegate combined with route', () => {
    const text =
      vs(`  - delegate: {name: api}\n${TO_REVIEWS}`) + delegateVs('api', TO_REVIEWS.replace('    route', '  - route'));
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: '{name: api}',
        path: 'spec.http[0].delegate',
        message: /both route and delegate/
      }
    ]);
  });
});

describe('DestinationRule', () => {
  it('duplicate subset names', () => {
    expectIssues(
      dr(
        '  host: reviews\n  subsets:\n  - name: v1\n    labels: {version: v1}\n  - name: v1 # again\n    labels: {version: v2}\n'
      ),
      [{ severity: err, code: 'IST0106', at: 'v1 # again', path: 'spec.subsets[1].name', message: /used twice/ }]
    );
  });

  it('loadBalancer with both simple and consistentHash', () => {
    expectIssues(
      dr(
        '  host: reviews\n  trafficPolicy:\n    loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}\n'
      ),
      [{ severity: err, code: 'IST0106', at: '{useSourceIp', path: 'spec.trafficPolicy.loadBalancer.consistentHash' }]
    );
  });

  it('IST0002: outlierDetection.consecutiveErrors is ignored since Istio 1.7', () => {
    const text = dr(
      '  host: reviews\n  subsets:\n  - name: v1\n    labels: {version: v1}\n    trafficPolicy:\n      outlierDetection: {consecutiveErrors: 5, interval: 10s}\n'
    );
    expectIssues(text, [
      {
        severity: warn,
        code: 'IST0002',
        at: { after: 'consecutiveErrors: ' },
        path: 'spec.subsets[0].trafficPolicy.outlierDetection.consecutiveErrors',
        message: /consecutive5xxErrors/
      }
    ]);
  });

  it('connectionPool and outlierDetection fields localmesh enforces: no IST0025', () => {
    expectIssues(
      dr(
        '  host: reviews\n  trafficPolicy:\n    connectionPool: {tcp: {maxConnections: 1, connectTimeout: 1s}, http: {http1MaxPendingRequests: 1, http2MaxRequests: 2}}\n    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100}\n'
      ),
      []
    );
  });

  it('IST0025: a connectionPool / outlierDetection field kept but not enforced (a warning, the config still runs)', () => {
    const text = dr(
      '  host: reviews\n  trafficPolicy:\n    connectionPool: {http: {maxRequestsPerConnection: 1, h2UpgradePolicy: UPGRADE}}\n    outlierDetection: {splitExternalLocalOriginErrors: true}\n'
    );
    expectIssues(text, [
      {
        severity: warn,
        code: 'IST0025',
        at: { after: 'connectionPool: ' },
        path: 'spec.trafficPolicy.connectionPool',
        // splitExternalLocalOriginErrors and maxRequestsPerConnection are enforced (sidecar/circuit.ts, lifecycle.ts)
        message: /yet: connectionPool\.http\.h2UpgradePolicy \(enforced/
      }
    ]);
  });
});

describe('header op values (Envoy format strings)', () => {
  it("an odd number of % is Istio's webhook error; %% and %COMMAND% pass; a command localmesh leaves empty warns", () => {
    expectIssues(
      vs(
        '  - headers:\n      request:\n        set: {x-a: "100%", x-b: "100%%", x-c: "%DOWNSTREAM_REMOTE_ADDRESS%"}\n        add: {x-d: "%UPSTREAM_METADATA(x)%"}\n' +
          TO_REVIEWS
      ),
      [
        {
          severity: err,
          code: 'IST0106',
          at: '"100%"',
          path: 'spec.http[0].headers.request.set["x-a"]',
          message: /^single % not allowed\.  Escape by doubling to %% or encase Envoy variable name in pair of %$/
        },
        {
          severity: warn,
          code: 'IST0025',
          at: '"%UPSTREAM_METADATA(x)%"',
          path: 'spec.http[0].headers.request.add["x-d"]',
          message: /^%UPSTREAM_METADATA% in a header value: localmesh gives it an empty value/
        }
      ]
    );
  });
});

describe('loadBalancer knobs with no local meaning', () => {
  it('IST0025 warnings for PASSTHROUGH, localityLbSetting and warmup', () => {
    expectIssues(dr('  host: reviews\n  trafficPolicy:\n    loadBalancer: {simple: PASSTHROUGH}\n'), [
      {
        severity: warn,
        code: 'IST0025',
        at: 'PASSTHROUGH',
        path: 'spec.trafficPolicy.loadBalancer.simple',
        message: /PASSTHROUGH .* has no meaning locally/
      }
    ]);
    expectIssues(
      dr(
        '  host: reviews\n  trafficPolicy:\n    loadBalancer:\n      simple: ROUND_ROBIN\n      localityLbSetting: {enabled: true}\n'
      ),
      [
        {
          severity: warn,
          code: 'IST0025',
          at: '{enabled',
          path: 'spec.trafficPolicy.loadBalancer.localityLbSetting',
          message: /localityLbSetting is kept but not enforced/
        }
      ]
    );
  });
  it('warmup as its CRD: duration required, minimumPercent 0-100, aggression at least 1 (errors besides the IST0025)', () => {
    const text = dr(
      '  host: reviews\n  trafficPolicy:\n    loadBalancer:\n      warmup: {minimumPercent: 150, aggression: 0.3}\n'
    );
    expectIssues(text, [
      {
        severity: warn,
        code: 'IST0025',
        at: '{minimumPercent',
        path: 'spec.trafficPolicy.loadBalancer.warmup',
        message: /warmup is kept but not enforced/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '{minimumPercent',
        path: 'spec.trafficPolicy.loadBalancer.warmup',
        message: /^warmup\.duration is required/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '150',
        path: 'spec.trafficPolicy.loadBalancer.warmup.minimumPercent',
        message: /between 0 and 100, found 150/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '0.3',
        path: 'spec.trafficPolicy.loadBalancer.warmup.aggression',
        message: /at least 1, found 0\.3/
      }
    ]);
    expectIssues(
      dr(
        '  host: reviews\n  trafficPolicy:\n    loadBalancer:\n      warmup: {duration: 300s, minimumPercent: 5, aggression: 5}\n'
      ),
      [
        {
          severity: warn,
          code: 'IST0025',
          at: '{duration',
          path: 'spec.trafficPolicy.loadBalancer.warmup',
          message: /warmup is kept but not enforced/
        }
      ]
    );
  });
});

describe('traffic policy fields kept as data', () => {
  it('IST0025 for proxyProtocol (routing.go TestUpstreamProxyProtocol), tunnel and retryBudget', () => {
    expectIssues(
      dr('  host: reviews\n  trafficPolicy:\n    tls: {mode: DISABLE}\n    proxyProtocol: {version: V1}\n'),
      [
        {
          severity: warn,
          code: 'IST0025',
          at: '{version',
          path: 'spec.trafficPolicy.proxyProtocol',
          message: /trafficPolicy\.proxyProtocol is kept but not enforced/
        }
      ]
    );
  });
});

describe('ServiceEntry and Sidecar', () => {
  const se = (body: string) =>
    `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db}\nspec:\n  hosts: [db.example.com]\n  ports: [{number: 5432, name: tcp, protocol: TCP}]\n${body}`;

  it("STATIC resolution without endpoints: Istio's webhook accepts it, localmesh warns (no endpoints)", () => {
    expectIssues(se('  resolution: STATIC\n'), [
      { severity: warn, code: 'IST0106', at: 'STATIC', path: 'spec.resolution', message: /without endpoints/ }
    ]);
  });

  it("ServiceEntry as Istio's ValidateServiceEntry: named ports, IP addresses, FQDN hosts for DNS without endpoints, one host for TCP ports", () => {
    const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a}
spec:
  hosts: ["*.api.example.com"]
  addresses: [300.1.1.1]
  ports:
  - {number: 443, protocol: HTTPS}
  - {number: 8443, name: HTTPS_alt, protocol: HTTPS}
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b}
spec:
  hosts: [db1.example.com, db2.example.com]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: DNS
`;
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: '"*.api.example.com"',
        path: 'spec.hosts[0]',
        message: /^hosts must be FQDN if no endpoints are provided for resolution mode DNS/
      },
      { severity: err, code: 'IST0106', at: '300.1.1.1', path: 'spec.addresses[0]', message: /is not a valid IP/ },
      {
        severity: err,
        code: 'IST0106',
        at: '{number: 443',
        path: 'spec.ports[0]',
        message: /^invalid port name: a ServiceEntry port needs a name/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'HTTPS_alt',
        path: 'spec.ports[1].name',
        message: /^invalid port name: HTTPS_alt/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '{number: 5432',
        path: 'spec.ports[0]',
        message: /^multiple hosts provided with non-HTTP, non-TLS ports/
      }
    ]);
  });

  it('endpoint address must be an IP (STATIC) or an IP or host (DNS)', () => {
    expectIssues(se('  resolution: STATIC\n  endpoints:\n  - address: db.internal\n'), [
      {
        severity: err,
        code: 'IST0106',
        at: 'db.internal',
        path: 'spec.endpoints[0].address',
        message: /not an IP address/
      }
    ]);
    expectIssues(se('  resolution: DNS\n  endpoints:\n  - address: "not a host!"\n'), [
      { severity: err, code: 'IST0106', at: '"not a host!"', path: 'spec.endpoints[0].address' }
    ]);
    expectIssues(se('  resolution: STATIC\n  endpoints:\n  - address: 10.0.0.7\n  - address: "::1"\n'), []);
  });

  it('Sidecar egress hosts must be namespace/host', () => {
    const text =
      'apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default}\nspec:\n  egress:\n  - hosts: ["./*", "istio-system/*", reviews.default.svc.cluster.local]\n';
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: 'reviews.default.svc.cluster.local',
        path: 'spec.egress[0].hosts[2]',
        message: /"namespace\/host"/
      }
    ]);
  });

  it('Sidecar inboundConnectionPool: the enforced limits pass; other knobs are IST0025, a valid ingress listener passes', () => {
    const sidecar = (body: string) =>
      `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default}\nspec:\n${body}`;
    expectIssues(
      sidecar(
        '  inboundConnectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1, http2MaxRequests: 2}}\n'
      ),
      []
    );
    expectIssues(
      sidecar(
        '  inboundConnectionPool: {tcp: {maxConnections: 1, connectTimeout: 1s}, http: {idleTimeout: 5s, maxConcurrentStreams: 5}}\n  ingress:\n  - port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: 127.0.0.1:8080\n'
      ),
      [
        {
          severity: warn,
          code: 'IST0025',
          at: { after: 'inboundConnectionPool: ' },
          path: 'spec.inboundConnectionPool',
          message: /tcp\.connectTimeout, http\.maxConcurrentStreams \(/
        }
      ]
    );
  });

  it("Sidecar ingress: istiod's webhook on defaultEndpoint, unique ports, protocol and tls; unix sockets and tls are IST0025", () => {
    // against a mesh whose instances receive on the listeners' ports, so that each listener configures one
    const ports = MeshFile.parse({
      apiVersion: 'localmesh.dev/v1alpha1',
      kind: 'Mesh',
      spec: {
        services: [
          {
            name: 'app',
            port: 9080,
            workloads: [9080, 9081, 9082, 9083, 9443].map((p) => ({ name: `app-${p}`, instances: [`127.0.0.1:${p}`] }))
          }
        ]
      }
    });
    const expectPorts = (text: string, expected: Expected[]) => expectIssues(text, expected, ports);
    const sidecar = (body: string) =>
      `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default}\nspec:\n  ingress:\n${body}`;
    // every form istiod accepts
    expectPorts(
      sidecar(
        [
          '  - port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: 127.0.0.1:8080\n',
          '  - port: {number: 9081, protocol: TCP}\n    defaultEndpoint: 0.0.0.0:8081\n',
          "  - port: {number: 9082, protocol: GRPC}\n    defaultEndpoint: '[::1]:8082'\n",
          '  - port: {number: 9083}\n    connectionPool: {tcp: {maxConnections: 2}}\n'
        ].join('')
      ),
      []
    );
    const bad = sidecar(
      [
        '  - port: {number: 9080, protocol: HTTP, name: http}\n    defaultEndpoint: 10.0.0.1:8080\n',
        '  - port: {number: 9080, protocol: HTTP, name: http2}\n    defaultEndpoint: 127.0.0.1:http\n',
        '  - port: {number: 9081, protocol: HTTPX}\n    defaultEndpoint: unix:///var/run/app.sock\n',
        '  - port: {number: 9443, protocol: HTTP}\n    tls: {mode: ISTIO_MUTUAL}\n'
      ].join('')
    );
    expectPorts(bad, [
      {
        severity: err,
        code: 'IST0106',
        at: '10.0.0.1',
        path: 'spec.ingress[0].defaultEndpoint',
        message:
          /^sidecar: defaultEndpoint must be of form 127\.0\.0\.1:<port>,0\.0\.0\.0:<port>,\[::1\]:port,\[::\]:port,unix:\/\/filepath or unset$/
      },
      {
        severity: err,
        code: 'IST0106',
        at: { after: '10.0.0.1:8080\n  - port: {number: ' },
        path: 'spec.ingress[1].port.number',
        message: /^sidecar: ports on IP bound listeners must be unique \(port 9080 also in spec\.ingress\[0\]\)$/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '127.0.0.1:http',
        path: 'spec.ingress[1].defaultEndpoint',
        message: /^sidecar: defaultEndpoint port \(http\) is not a number$/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'HTTPX',
        path: 'spec.ingress[2].port.protocol',
        message: /^unsupported protocol: HTTPX$/
      },
      {
        severity: warn,
        code: 'IST0025',
        at: 'unix://',
        path: 'spec.ingress[2].defaultEndpoint',
        message: /unix socket defaultEndpoint is kept but not enforced/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '{mode: ISTIO_MUTUAL}',
        path: 'spec.ingress[3].tls',
        message: /^server cannot have TLS settings for non HTTPS\/TLS ports$/
      },
      {
        severity: warn,
        code: 'IST0025',
        at: '{mode: ISTIO_MUTUAL}',
        path: 'spec.ingress[3].tls',
        message: /ingress tls \(TLS termination in the sidecar\) is kept but not enforced by localmesh/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'ISTIO_MUTUAL',
        path: 'spec.ingress[3].tls.mode',
        message: /^configuration is invalid: cannot set mode to ISTIO_MUTUAL in sidecar ingress tls$/
      }
    ]);
    // SIMPLE on a TLS port is valid in Istio: only the IST0025 warning
    expectPorts(sidecar('  - port: {number: 9443, protocol: TLS}\n    tls: {mode: SIMPLE}\n'), [
      { severity: warn, code: 'IST0025', at: '{mode: SIMPLE}', path: 'spec.ingress[0].tls' }
    ]);
  });

  it('Sidecar ingress: a listener no instance takes (neither an instance port nor the service port) is an IST0101 warning', () => {
    const sidecar = (app: string, ports: number[]) =>
      `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: ${app}}\nspec:\n  workloadSelector: {labels: {app: ${app}}}\n  ingress:\n` +
      ports.map((p) => `  - port: {number: ${p}, protocol: HTTP, name: http-${p}}\n`).join('');
    // reviews-v1 and reviews-v2 receive on 19081 and 19082, behind the service port 9080
    expectIssues(sidecar('reviews', [9999]), [
      {
        severity: warn,
        code: 'IST0101',
        at: '9999',
        path: 'spec.ingress[0].port.number',
        message:
          /^ingress listener port 9999 matches no instance: it is neither the port of an instance this Sidecar applies to \(19081, 19082\) nor their service's port \(9080\), so the listener configures nothing$/
      }
    ]);
    // by an instance's own port, by the service's port: no warning
    expectIssues(sidecar('ratings', [19091]), []);
    expectIssues(sidecar('reviews', [9080]), []);
    // the service's port, when every instance has a listener on its own port, which wins
    expectIssues(sidecar('ratings', [19091, 9080]), [
      {
        severity: warn,
        code: 'IST0101',
        at: '9080,',
        path: 'spec.ingress[1].port.number',
        message: /it is the service's port, but each instance's own port \(19091\) has a listener, which comes first/
      }
    ]);
    // a Sidecar that applies to no workload
    expectIssues(sidecar('details', [9080]), [
      {
        severity: warn,
        code: 'IST0101',
        at: '9080,',
        path: 'spec.ingress[0].port.number',
        message: /this Sidecar applies to no workload of the mesh that has a sidecar/
      }
    ]);
  });
});

describe('Istio bookinfo samples with a bookinfo mesh', () => {
  const svc = (name: string, versions: string[], base: number) => ({
    name,
    port: 9080,
    workloads: versions.map((v, k) => ({
      name: `${name}-${v}`,
      labels: { app: name, version: v },
      instances: [`127.0.0.1:${base + k}`]
    }))
  });
  const bookinfo = MeshFile.parse({
    apiVersion: 'localmesh.dev/v1alpha1',
    kind: 'Mesh',
    spec: {
      services: [
        svc('productpage', ['v1'], 19000),
        svc('reviews', ['v1', 'v2', 'v3'], 19010),
        svc('ratings', ['v1', 'v2'], 19020),
        svc('details', ['v1', 'v2'], 19030)
      ]
    }
  });
  const networking = path.join(BOOKINFO, 'networking');
  const files = readdirSync(networking).filter((f) => f.endsWith('.yaml'));

  it.each(files)('%s has no errors', (name) => {
    const loaded = loadIstio(
      [path.join(networking, name), path.join(networking, 'destination-rule-all.yaml')],
      'default'
    );
    const issues = validateIstio(loaded.resources, bookinfo, loaded.posOf);
    expect(issues.filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('all-v1 routes with destination-rule-all: only the ratings subsets without workloads are flagged', () => {
    const loaded = loadIstio(
      [path.join(networking, 'virtual-service-all-v1.yaml'), path.join(networking, 'destination-rule-all.yaml')],
      'default'
    );
    expect(loaded.issues).toEqual([]);
    const issues = validateIstio(loaded.resources, bookinfo, loaded.posOf);
    expect(issues.map((i) => [i.code, i.severity, i.path, i.where.line, i.where.column])).toEqual([
      ['IST0173', 'warning', 'spec.subsets[2].labels', 44, 7],
      ['IST0173', 'warning', 'spec.subsets[3].labels', 47, 7]
    ]);
  });
});

describe('Gateway (ValidateGateway: kept as data, but a file the webhook refuses never applies)', () => {
  const gw = (servers: string) =>
    `apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  selector: {istio: ingressgateway}\n${servers}`;
  it('no servers, a server without hosts, an HTTPS or TLS server without tls settings are errors', () => {
    expectIssues(gw('  servers: []\n'), [
      {
        severity: err,
        code: 'IST0106',
        at: '[]',
        path: 'spec.servers',
        message: /^gateway must have at least one server$/
      }
    ]);
    expectIssues(
      gw(
        '  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: ["*"]\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: []\n'
      ),
      [
        {
          severity: err,
          code: 'IST0106',
          at: 'HTTPS}',
          path: 'spec.servers[0].port.protocol',
          message: /^server must have TLS settings for HTTPS\/TLS protocols$/
        },
        {
          severity: err,
          code: 'IST0106',
          at: 'port: {number: 80',
          path: 'spec.servers[1]',
          message: /^server config must contain at least one host$/
        }
      ]
    );
  });
  it('a server with its settings is fine', () => {
    expectIssues(
      gw(
        '  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: ["*"]\n    tls: {mode: SIMPLE, credentialName: cert}\n'
      ),
      []
    );
  });
});

describe('spec.compatibilityVersion', () => {
  const at = (v: string): MeshFile => ({ ...MESH, spec: { ...MESH.spec, compatibilityVersion: v } });
  const split =
    '  - route:\n    - destination: {host: reviews}\n      weight: 60\n    - destination: {host: ratings}\n      weight: 30\n';
  it('before Istio 1.15 route weights must add up to 100; since then they are relative', () => {
    expectIssues(vs(split), []);
    expectIssues(vs(split), [], at('1.15'));
    expectIssues(
      vs(split),
      [
        {
          severity: err,
          code: 'IST0106',
          at: '- destination',
          path: 'spec.http[0].route',
          message: /total destination weight 90 != 100: before Istio 1\.15/
        }
      ],
      at('1.14')
    );
  });
  it('IST0026: a field newer than the version the mesh follows (applied, with a warning)', () => {
    const text = vs(
      '  - match: [{uri: {prefix: /d}}]\n    directResponse: {status: 200}\n  - mirrors: [{destination: {host: ratings}}]\n    retries: {attempts: 1, backoff: 1s}\n' +
        TO_REVIEWS
    );
    expectIssues(text, []);
    expectIssues(text, [], at('1.26'));
    expectIssues(
      text,
      [
        {
          severity: warn,
          code: 'IST0026',
          at: { after: 'mirrors: ' },
          path: 'spec.http[1].mirrors',
          message: /new in Istio 1\.19/
        },
        {
          severity: warn,
          code: 'IST0026',
          at: { after: 'backoff: ' },
          path: 'spec.http[1].retries.backoff',
          message: /Istio 1\.18 \(spec.compatibilityVersion\)/
        }
      ],
      at('1.18')
    );
  });
  it('consecutiveErrors: no IST0002 before Istio 1.7, when it still counted gateway errors', () => {
    const text = dr('  host: reviews\n  trafficPolicy:\n    outlierDetection: {consecutiveErrors: 5}\n');
    expectIssues(text, [], at('1.6'));
    expect(run(text).issues.map((i) => i.code)).toEqual(['IST0002']);
  });
  it('the mesh file takes "1.<minor>" as a string only', () => {
    const parse = (v: unknown) =>
      MeshFile.safeParse({ apiVersion: 'localmesh.dev/v1alpha1', kind: 'Mesh', spec: { compatibilityVersion: v } });
    expect(parse('1.23').success).toBe(true);
    expect(parse('2.0').error?.issues[0]?.message).toMatch(/1\.<minor>/);
    // YAML reads an unquoted 1.20 as the number 1.2
    expect(parse(1.2).error?.issues[0]?.message).toMatch(/quoted version like "1.23"/);
  });
});

describe('tcp and tls routes', () => {
  it('tcp and tls routes are executed, no note; their destinations are checked (IST0101); a tls match needs sniHosts', () => {
    const head = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
`;
    expectIssues(head + '  tcp:\n  - route: [{destination: {host: reviews}}]\n', []);
    expectIssues(head + '  tcp:\n  - route: [{destination: {host: reviews, subset: v9}}]\n', [
      {
        severity: err,
        code: 'IST0101',
        at: { after: 'subset: ' },
        path: 'spec.tcp[0].route[0].destination.subset',
        message: /v9/
      }
    ]);
    expectIssues(
      head + '  tls:\n  - match: [{sniHosts: [reviews]}]\n    route: [{destination: {host: reviews}}]\n',
      []
    );
    expectIssues(
      head + '  tls:\n  - match: [{sniHosts: [reviews]}]\n    route: [{destination: {host: reviews, subset: v9}}]\n',
      [
        {
          severity: err,
          code: 'IST0101',
          at: { after: 'subset: ' },
          path: 'spec.tls[0].route[0].destination.subset',
          message: /v9/
        }
      ]
    );
    const file = path.join(root, `case-${++counter}.yaml`);
    writeFileSync(file, head + '  tls:\n  - match: [{port: 443}]\n    route: [{destination: {host: reviews}}]\n');
    const missing = loadIstio([file], 'default').issues;
    expect(missing.map((i) => [i.severity, i.path])).toContainEqual(['error', 'spec.tls[0].match[0].sniHosts']);
  });

  it("a tls route's SNI name must be within the VirtualService's hosts (validateSniHost)", () => {
    const vsTls = (hosts: string, sni: string) =>
      `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: t}\nspec:\n  hosts: ${hosts}\n  tls:\n  - match: [{sniHosts: ${sni}}]\n    route: [{destination: {host: reviews}}]\n`;
    expectIssues(vsTls('[reviews]', '[a.tls.example]'), [
      {
        severity: err,
        code: 'IST0106',
        at: 'a.tls.example',
        path: 'spec.tls[0].match[0].sniHosts[0]',
        message:
          /^SNI host "a\.tls\.example" is not a compatible subset of any of the virtual service hosts: \[reviews\]$/
      }
    ]);
    // within a wildcard host, a wildcard within a wider one, the same name: fine
    expectIssues(vsTls('["*.tls.example"]', '[a.tls.example, "*.b.tls.example"]'), []);
    expectIssues(vsTls('[reviews, ratings]', '[ratings]'), []);
  });
});

describe('every problem at once', () => {
  it('a resource with an unknown field still gets its other checks (and is not run)', () => {
    const dir = mkdtempSync(path.join(root, 'project-'));
    writeFileSync(
      path.join(dir, 'localmesh.yaml'),
      'apiVersion: localmesh.dev/v1alpha1\nkind: Mesh\nspec:\n  istio: [./vs.yaml]\n  services:\n  - name: reviews\n    port: 9080\n    workloads:\n    - name: reviews-v1\n      instances: ["127.0.0.1:19081"]\n'
    );
    writeFileSync(
      path.join(dir, 'vs.yaml'),
      vs("  - timeot: 1s\n    match: [{uri: {regex: '(?<=a)b'}}]\n    route:\n    - destination: {host: nowhere}\n")
    );
    const p = loadProject(path.join(dir, 'localmesh.yaml'));
    expect(p.issues.map((i) => [i.code, i.path])).toEqual([
      ['IST0106', 'spec.http[0].timeot'],
      ['IST0122', 'spec.http[0].match[0].uri.regex'],
      ['IST0101', 'spec.http[0].route[0].destination.host']
    ]);
    expect(p.mesh).toBeUndefined();
    expect(p.resources).toEqual([]);
  });
  it('a mesh file with an unknown field still has its Istio files checked against the rest of it', () => {
    const dir = mkdtempSync(path.join(root, 'project-'));
    writeFileSync(
      path.join(dir, 'localmesh.yaml'),
      'apiVersion: localmesh.dev/v1alpha1\nkind: Mesh\nspec:\n  istio: [./vs.yaml]\n  services:\n  - name: reviews\n    port: 9080\n    workloads:\n    - name: reviews-v1\n      labls: {app: reviews}\n      instances: ["127.0.0.1:19081"]\n    - name: reviews-v1\n      instances: ["127.0.0.1:19082"]\n'
    );
    writeFileSync(path.join(dir, 'vs.yaml'), vs('  - route:\n    - destination: {host: reviews, subset: v9}\n'));
    const p = loadProject(path.join(dir, 'localmesh.yaml'));
    expect(p.issues.map((i) => [i.code, i.path])).toEqual([
      ['LM003', 'spec.services[0].workloads[0].labls'],
      ['LM004', 'spec.services[0].workloads[1].name'],
      ['IST0101', 'spec.http[0].route[0].destination.subset']
    ]);
    expect(p.mesh).toBeUndefined();
  });
});

/** Load `text` and assert the issues of the load itself (schema: the resource is rejected), sorted by position. */
function expectLoadIssues(text: string, expected: Expected[]): void {
  const file = path.join(root, `case-${++counter}.yaml`);
  writeFileSync(file, text);
  const issues = [...loadIstio([file], 'default').issues].sort(
    (a, b) => a.where.line - b.where.line || a.where.column - b.where.column
  );
  expect(issues.map((i) => ({ severity: i.severity, code: i.code, path: i.path, where: i.where }))).toEqual(
    expected.map((e) => ({ severity: e.severity, code: e.code, path: e.path, where: { file, ...loc(text, e.at) } }))
  );
  expected.forEach((e, k) => {
    if (e.message) expect(issues[k]!.message).toMatch(e.message);
  });
}

describe('connectionPool and outlierDetection have their fields checked (Istio ConnectionPoolSettings, OutlierDetection)', () => {
  it('a misspelled field gets a did-you-mean; wrong types and out-of-range numbers are IST0106 at the field, at every level', () => {
    const text = dr(`  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {maxConnection: 5}
      http: {http1MaxPendingRequests: -5, maxRetries: "3"}
    outlierDetection: {consecutive5xxErrors: lots, maxEjectionPercent: 150, baseEjectionTime: 30}
    portLevelSettings:
    - port: {number: 9080}
      connectionPool: {tcp: {connectTimeout: 1x}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      outlierDetection: {minHealthPercent: -1, intervall: 5s}
`);
    const tp = 'spec.trafficPolicy';
    expectLoadIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: 'maxConnection:',
        path: `${tp}.connectionPool.tcp.maxConnection`,
        message: /^unknown field "maxConnection" \(did you mean "maxConnections"\?\)$/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '-5',
        path: `${tp}.connectionPool.http.http1MaxPendingRequests`,
        message: /must be ≥ 0/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '"3"',
        path: `${tp}.connectionPool.http.maxRetries`,
        message: /must be a number, found the string "3"/
      },
      { severity: err, code: 'IST0106', at: 'lots', path: `${tp}.outlierDetection.consecutive5xxErrors` },
      {
        severity: err,
        code: 'IST0106',
        at: '150',
        path: `${tp}.outlierDetection.maxEjectionPercent`,
        message: /must be ≤ 100/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '30}',
        path: `${tp}.outlierDetection.baseEjectionTime`,
        message: /must be a duration such as "5s" or "250ms", found number 30/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '1x',
        path: `${tp}.portLevelSettings[0].connectionPool.tcp.connectTimeout`,
        message: /found the string "1x"/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '-1',
        path: 'spec.subsets[0].trafficPolicy.outlierDetection.minHealthPercent',
        message: /must be ≥ 0/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'intervall',
        path: 'spec.subsets[0].trafficPolicy.outlierDetection.intervall',
        message: /did you mean "interval"\?/
      }
    ]);
  });

  it('what Istio requires of them: a field set, local-origin failures only when split, a port for a port-level entry', () => {
    const text = dr(`  host: reviews
  trafficPolicy:
    connectionPool: {}
    outlierDetection: {consecutiveLocalOriginFailures: 3}
    portLevelSettings:
    - port: {number: 9080}
    - tls: {mode: DISABLE}
  subsets:
  - name: v1
    trafficPolicy: {}
`);
    expectLoadIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: '{}',
        path: 'spec.trafficPolicy.connectionPool',
        message: /connection pool must have at least one field: tcp or http/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '3}',
        path: 'spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures',
        message: /split external local origin errors is set to false/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'port: {number: 9080}',
        path: 'spec.trafficPolicy.portLevelSettings[0]',
        message: /port traffic policy must have at least one field/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'tls: {mode',
        path: 'spec.trafficPolicy.portLevelSettings[1].port',
        message: /missing required field "port"/
      },
      {
        severity: err,
        code: 'IST0106',
        at: { after: 'trafficPolicy: ' },
        path: 'spec.subsets[0].trafficPolicy',
        message: /^traffic policy must have at least one field/
      }
    ]);
    // with splitExternalLocalOriginErrors the local-origin count is fine (and enforced)
    expectIssues(
      dr(
        '  host: reviews\n  trafficPolicy:\n    outlierDetection: {splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 3}\n'
      ),
      []
    );
  });

  it('a misspelled key is reported once, not also as the field it leaves missing', () => {
    const text = dr('  host: reviews\n  trafficPolicy:\n    connectionPool: {tpc: {maxConnections: 1}}\n');
    expectLoadIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: 'tpc',
        path: 'spec.trafficPolicy.connectionPool.tpc',
        message: /^unknown field "tpc" \(did you mean "tcp"\?\)$/
      }
    ]);
  });

  it('durations are at least 1ms in whole ms; h2UpgradePolicy UPGRADE excludes useClientProtocol; knobs not enforced stay IST0025', () => {
    const text = dr(`  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {connectTimeout: 0.5ms, tcpKeepalive: {time: 0s, probes: 3}}
      http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}
    outlierDetection: {interval: 1.5ms}
`);
    expectIssues(text, [
      {
        severity: warn,
        code: 'IST0025',
        at: 'tcp: {',
        path: 'spec.trafficPolicy.connectionPool',
        message:
          /connectionPool\.tcp\.tcpKeepalive, connectionPool\.http\.h2UpgradePolicy, connectionPool\.http\.useClientProtocol/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '0.5ms',
        path: 'spec.trafficPolicy.connectionPool.tcp.connectTimeout',
        message: /tcp\.connectTimeout must be at least 1ms, found "0.5ms"/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '0s',
        path: 'spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.time',
        message: /at least 1ms/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'true}',
        path: 'spec.trafficPolicy.connectionPool.http.useClientProtocol',
        message: /useClientProtocol must not be true when h2UpgradePolicy is UPGRADE/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '1.5ms',
        path: 'spec.trafficPolicy.outlierDetection.interval',
        message: /sub-millisecond/
      }
    ]);
  });

  it("Sidecar shape as Istio's ValidateSidecar: some configuration, the port-less egress listener last and alone, unique ports, egressProxy only with ALLOW_ANY; repeated hosts warn", () => {
    const sidecar = (name: string, body: string) =>
      `---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: ${name}}\nspec:\n${body}`;
    const text =
      sidecar('empty', '  workloadSelector: {labels: {app: a}}\n') +
      sidecar(
        'order',
        "  egress:\n  - hosts: ['./*']\n  - port: {number: 9080, protocol: HTTP, name: a}\n    hosts: ['./*', './reviews']\n  - port: {number: 9080, protocol: HTTP, name: b}\n    hosts: ['./*']\n"
      ) +
      sidecar(
        'proxy',
        '  outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: proxy.example.com, port: {number: 80}}}\n'
      );
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: 'workloadSelector',
        path: 'spec',
        message: /^sidecar: empty configuration provided/
      },
      {
        severity: err,
        code: 'IST0106',
        at: "hosts: ['./*']\n  - port",
        path: 'spec.egress[0]',
        message: /^sidecar: the egress listener with empty port should be the last listener in the list/
      },
      {
        severity: warn,
        code: 'IST0106',
        at: "'./reviews'",
        path: 'spec.egress[1].hosts[1]',
        message: /^duplicated egress host: \.\/reviews/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '9080, protocol: HTTP, name: b',
        path: 'spec.egress[2].port.number',
        message: /^sidecar: ports on IP bound listeners must be unique/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '{host: proxy',
        path: 'spec.outboundTrafficPolicy.egressProxy',
        message: /^sidecar: egress_proxy must be set only with ALLOW_ANY/
      }
    ]);
  });

  it("a Sidecar's inboundConnectionPool is a ConnectionPoolSettings too", () => {
    const sidecar = (body: string) =>
      `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default}\nspec:\n${body}`;
    expectLoadIssues(sidecar('  inboundConnectionPool: {tcp: {maxConection: 1}, http: {http2MaxRequests: many}}\n'), [
      {
        severity: err,
        code: 'IST0106',
        at: 'maxConection',
        path: 'spec.inboundConnectionPool.tcp.maxConection',
        message: /did you mean "maxConnections"\?/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'many',
        path: 'spec.inboundConnectionPool.http.http2MaxRequests',
        message: /must be a number, found the string "many"/
      }
    ]);
    expectLoadIssues(sidecar('  inboundConnectionPool: {}\n'), [
      { severity: err, code: 'IST0106', at: '{}', path: 'spec.inboundConnectionPool', message: /at least one field/ }
    ]);
    // tcp.idleTimeout 0s disables the timeout: Istio's webhook skips it (istio/istio#55409); 500us is still too short
    expectIssues(sidecar('  inboundConnectionPool: {tcp: {maxConnections: 1, idleTimeout: 0s}}\n'), []);
    expectIssues(sidecar('  inboundConnectionPool: {tcp: {maxConnections: 1, idleTimeout: 500us}}\n'), [
      {
        severity: err,
        code: 'IST0106',
        at: '500us',
        path: 'spec.inboundConnectionPool.tcp.idleTimeout',
        message: /tcp\.idleTimeout must be at least 1ms/
      }
    ]);
  });
});

describe("more of Istio's webhook: routes, subset names, exportTo, ServiceEntry ports", () => {
  const vsOnly = (spec: string, name = 'reviews') =>
    `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}}\nspec:\n${spec}`;

  it('a VirtualService needs http, tcp or tls; one without hosts is a delegate and takes http only', () => {
    expectLoadIssues(vsOnly('  hosts: [reviews]\n'), [
      {
        severity: err,
        code: 'IST0106',
        at: 'hosts',
        path: 'spec',
        message: /^http, tcp or tls must be provided in virtual service/
      }
    ]);
    expectLoadIssues(vsOnly('  tcp:\n  - route: [{destination: {host: reviews}}]\n', 'part'), [
      {
        severity: err,
        code: 'IST0106',
        at: '- route',
        path: 'spec.tcp',
        message: /^delegate virtual service must have no tcp route specified/
      }
    ]);
    expectLoadIssues(vsOnly('  exportTo: ["."]\n', 'part'), [
      { severity: err, code: 'IST0106', at: 'exportTo', path: 'spec', message: /delegate, which takes http rules/ }
    ]);
    // a misspelled http is that, not also "no routes"
    expectLoadIssues(vsOnly('  hosts: [reviews]\n  htpp:\n  - route: [{destination: {host: reviews}}]\n'), [
      { severity: err, code: 'IST0106', at: 'htpp', path: 'spec.htpp', message: /did you mean "http"\?/ }
    ]);
  });

  it('subset names are DNS-1123 labels, in a DestinationRule and in a destination', () => {
    const text = `${vs('  - route:\n    - destination: {host: reviews, subset: V1_x}\n')}---\n${dr('  host: reviews\n  subsets:\n  - name: V1_x\n    labels: {version: v1}\n  - name: v2\n    labels: {version: v2}\n')}`;
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: 'V1_x',
        path: 'spec.http[0].route[0].destination.subset',
        message: /subset name "V1_x" is invalid: it must be a DNS-1123 label .*e\.g\. "v1-x"/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'V1_x\n',
        path: 'spec.subsets[0].name',
        message: /DNS-1123 label/
      }
    ]);
  });

  it('exportTo: "*" alone, no duplicates, "~" only for a ServiceEntry and alone, namespace names', () => {
    const se = (exportTo: string) =>
      `---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext}\nspec:\n  hosts: [api.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n  exportTo: ${exportTo}\n`;
    const text = `${vs(TO_REVIEWS.replace('    route', '  - route'), { head: '  exportTo: ["*", "."]\n' })}---\n${dr('  host: reviews\n  exportTo: ["~"]\n')}${se('["~", "."]')}${se('[".", default, Bad_NS]').replace('name: ext', 'name: ext2').replace('api.', 'api2.')}`;
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: '"*"',
        path: 'spec.exportTo[0]',
        message: /^cannot have both public \(\*\) and non-public exportTo values for a resource/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '"~"]',
        path: 'spec.exportTo[0]',
        message: /"~" \(no one\) is allowed only for a ServiceEntry/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '"~", "."',
        path: 'spec.exportTo[0]',
        message: /cannot export service entry to no one \(~\) and someone/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'default, Bad_NS',
        path: 'spec.exportTo[1]',
        message: /duplicate entries in exportTo: "\." and the namespace default/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'Bad_NS',
        path: 'spec.exportTo[2]',
        message: /exportTo entry "Bad_NS" is invalid/
      }
    ]);
    expectIssues(`${vs(TO_REVIEWS.replace('    route', '  - route'), { head: '  exportTo: ["*"]\n' })}`, []);
  });

  it('ServiceEntry: port numbers and names unique, known protocols, endpoint ports that name a port', () => {
    const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [api.example.com]
  ports:
  - {number: 80, name: http, protocol: HTTPP}
  - {number: 80, name: http, protocol: http}
  - {number: 8443, name: web, protocol: GRPC-Web}
  resolution: STATIC
  endpoints:
  - address: 127.0.0.1
    ports: {htp: 8080, web: 70000}
`;
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: 'HTTPP',
        path: 'spec.ports[0].protocol',
        message: /^unsupported protocol "HTTPP" \(did you mean "HTTP"\?\)/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '80, name: http, protocol: http',
        path: 'spec.ports[1].number',
        message: /service entry port 80 already defined \(spec\.ports\[0\]\)/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'http, protocol: http}',
        path: 'spec.ports[1].name',
        message: /port name "http" already defined/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '8080',
        path: 'spec.endpoints[0].ports.htp',
        message: /endpoint port "htp" \(8080\) is not defined by the service entry.*did you mean "http"\?/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '70000',
        path: 'spec.endpoints[0].ports.web',
        message: /between 1 and 65535/
      }
    ]);
  });

  it('ServiceEntry: targetPort 1-65535, CIDR addresses only for NONE/STATIC, one DNS_ROUND_ROBIN endpoint', () => {
    const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [api.example.com]
  addresses: [10.0.0.0/16]
  ports:
  - {number: 80, name: http, targetPort: 99999}
  resolution: DNS_ROUND_ROBIN
  endpoints:
  - address: a.example.com
  - address: b.example.com
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ok}
spec:
  hosts: [db.example.com]
  addresses: [10.1.0.0/16]
  ports:
  - {number: 5432, name: tcp, protocol: TCP, targetPort: 15432}
  resolution: STATIC
  endpoints:
  - address: 127.0.0.1
`;
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: '10.0.0.0/16',
        path: 'spec.addresses[0]',
        message: /^CIDR addresses are allowed only for NONE\/STATIC resolution types, not DNS_ROUND_ROBIN/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '99999',
        path: 'spec.ports[0].targetPort',
        message: /^port must be between 1-65535/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'address: b.example.com',
        path: 'spec.endpoints[1]',
        message: /^DNS_ROUND_ROBIN mode cannot have multiple endpoints/
      }
    ]);
  });

  it("DestinationRule tls as Istio's ValidateTLS (MUTUAL needs a client certificate and key) and subset labels as labels", () => {
    const text = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: MUTUAL, caCertificates: /ca.pem}
  subsets:
  - name: v1
    labels: {version: "v1*"}
    trafficPolicy:
      tls: {mode: SIMPLE, insecureSkipVerify: true, subjectAltNames: [reviews.example]}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      tls: {mode: MUTUAL, credentialName: reviews-cert}
`;
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: 'MUTUAL, caCertificates',
        path: 'spec.trafficPolicy.tls.mode',
        message: /^client certificate required for mutual tls/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'MUTUAL, caCertificates',
        path: 'spec.trafficPolicy.tls.mode',
        message: /^private key required for mutual tls/
      },
      {
        severity: 'warning',
        code: 'IST0173',
        at: '{version: "v1*"}',
        path: 'spec.subsets[0].labels'
      },
      {
        severity: err,
        code: 'IST0106',
        at: '"v1*"',
        path: 'spec.subsets[0].labels.version',
        message: /^invalid tag value: "v1\*"/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'true, subjectAltNames',
        path: 'spec.subsets[0].trafficPolicy.tls.insecureSkipVerify',
        message: /^cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true/
      }
    ]);
  });

  it("CORS, header operations and sourceLabels as Istio's validateHTTPRoute checks them", () => {
    const text = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [reviews]
  http:
  - match: [{sourceLabels: {app: "*"}, headers: {"x user": {exact: a}, ":path": {prefix: /}}}]
    route: [{destination: {host: reviews}, headers: {response: {set: {":status": "200"}}}}]
  - route: [{destination: {host: reviews}}]
    corsPolicy:
      allowOrigins: [{exact: "http://a.example"}]
      allowMethods: [GET, GETT, "*"]
      allowHeaders: ["*", x-custom, "bad header"]
      maxAge: 1500ms
    headers:
      request: {set: {host: b.example, "": x, ":path": /elsewhere}, remove: [Host]}
      response: {add: {x-ok: "1"}}
`;
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: '"*"}, headers',
        path: 'spec.http[0].match[0].sourceLabels.app',
        message: /^invalid tag value: "\*"/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '{exact: a}',
        path: 'spec.http[0].match[0].headers["x user"]',
        message: /^header name x user is not a valid header name/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '"200"',
        path: 'spec.http[0].route[0].headers.response.set[":status"]',
        message: /header cannot have ":" prefix/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'GETT',
        path: 'spec.http[1].corsPolicy.allowMethods[1]',
        message: /^"GETT" is not a supported HTTP method \(did you mean "GET"\?\)/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '"bad header"',
        path: 'spec.http[1].corsPolicy.allowHeaders[2]',
        message: /is not a valid header name/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '1500ms',
        path: 'spec.http[1].corsPolicy.maxAge',
        message: /^max_age duration is accurate only to seconds precision/
      },
      {
        severity: err,
        code: 'IST0106',
        at: { after: '"": ' },
        path: 'spec.http[1].headers.request.set[""]',
        message: /^header name cannot be empty/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '/elsewhere',
        path: 'spec.http[1].headers.request.set[":path"]',
        message: /^invalid header ":path": header cannot have ":" prefix/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'Host]',
        path: 'spec.http[1].headers.request.remove[0]',
        message: /^invalid header "Host": cannot set Host header/
      }
    ]);
  });

  it("hosts as Istio's ValidateWildcardDomain: '*' only as the first label, DNS labels, no port; an IP is a VirtualService host", () => {
    const text = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: ["reviews.*", "ratings:9080", 10.1.2.3, "*.example.com"]
  http:
  - route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: ["api.exa_mple.com", "*x.example.org"]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  host: "reviews.default.svc.cluster.local:9080"
`;
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: '"reviews.*"',
        path: 'spec.hosts[0]',
        message: /^domain name "reviews\.\*" invalid \(label "\*" invalid\)/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '"ratings:9080"',
        path: 'spec.hosts[1]',
        message: /^domain name "ratings:9080" invalid/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '"api.exa_mple.com"',
        path: 'spec.hosts[0]',
        message: /label "exa_mple" invalid/
      },
      {
        severity: err,
        code: 'IST0106',
        at: '"reviews.default.svc.cluster.local:9080"',
        path: 'spec.host',
        message: /label "local:9080" invalid/
      }
    ]);
  });

  it("workload selectors as Istio's validateWorkloadSelector: no '*' in a label (error), no labels (warning)", () => {
    const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [api.example.com]
  workloadSelector: {labels: {app: "*"}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: sc}
spec:
  workloadSelector: {}
  egress: [{hosts: ["./*"]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  host: reviews
  workloadSelector: {matchLabels: {"version*": v1}}
`;
    expectIssues(text, [
      {
        severity: err,
        code: 'IST0106',
        at: '"*"}}',
        path: 'spec.workloadSelector.labels.app',
        message: /^wildcard is not supported in selector: "app=\*"/
      },
      {
        severity: 'warning',
        code: 'IST0106',
        at: '{}',
        path: 'spec.workloadSelector',
        message: /^workload selector specified without labels/
      },
      {
        severity: err,
        code: 'IST0106',
        at: 'v1}}',
        path: 'spec.workloadSelector.matchLabels["version*"]',
        message: /^wildcard is not supported in selector/
      }
    ]);
  });
});

describe('did you mean: hosts and enum values', () => {
  it('an unknown destination or DestinationRule host names the closest service host', () => {
    const text = `${vs('  - route:\n    - destination: {host: reveiws}\n    - destination: {host: ratings.default.svc.cluster.locl}\n      weight: 1\n    - destination: {host: inventory}\n      weight: 1\n')}---\n${dr('  host: ratngs\n')}`;
    const { issues } = run(text);
    expect(issues.map((i) => [i.code, i.path])).toEqual([
      ['IST0101', 'spec.http[0].route[0].destination.host'],
      ['IST0101', 'spec.http[0].route[1].destination.host'],
      ['IST0101', 'spec.http[0].route[2].destination.host'],
      ['IST0174', 'spec.host']
    ]);
    expect(issues[0]!.message).toMatch(/is not a service in the mesh; did you mean "reviews"\? If not, add a service/);
    expect(issues[1]!.message).toMatch(/did you mean "ratings\.default\.svc\.cluster\.local"\?/);
    expect(issues[2]!.message).not.toMatch(/did you mean/);
    expect(issues[3]!.message).toMatch(/has no effect; did you mean "ratings"\?/);
  });

  it('a misspelled enum value gets the nearest one', () => {
    expectLoadIssues(
      dr('  host: reviews\n  trafficPolicy:\n    loadBalancer: {simple: ROUND_ROBBIN}\n    tls: {mode: FASTEST}\n'),
      [
        {
          severity: err,
          code: 'IST0106',
          at: 'ROUND_ROBBIN',
          path: 'spec.trafficPolicy.loadBalancer.simple',
          message:
            /^must be one of "UNSPECIFIED", .*"LEAST_REQUEST", found the string "ROUND_ROBBIN" \(did you mean "ROUND_ROBIN"\?\)$/
        },
        {
          severity: err,
          code: 'IST0106',
          at: 'FASTEST',
          path: 'spec.trafficPolicy.tls.mode',
          message: /^must be one of "DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL", found the string "FASTEST"$/
        }
      ]
    );
  });
});

describe('duration errors quote the value', () => {
  it('timeout: 1x and perTryTimeout: 2', () => {
    expectLoadIssues(
      vs(
        `${TO_REVIEWS.replace('    route', '  - route')}    timeout: 1x\n    retries: {attempts: 1, perTryTimeout: 2}\n`
      ),
      [
        {
          severity: err,
          code: 'IST0106',
          at: '1x',
          path: 'spec.http[0].timeout',
          message: /^must be a duration such as "5s" or "250ms", found the string "1x"$/
        },
        {
          severity: err,
          code: 'IST0106',
          at: '2}',
          path: 'spec.http[0].retries.perTryTimeout',
          message: /found number 2$/
        }
      ]
    );
  });
});
