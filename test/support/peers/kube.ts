// A real Kubernetes control plane without a kubelet, started the way controller-runtime's
// envtest does it: etcd, kube-apiserver (RBAC on, service-account issuer and signing keys,
// an admin token in group system:masters) and kube-controller-manager running the garbage
// collector, namespace, service-account and service-account-token controllers. Pods never run;
// everything an operator does against the API is real.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { freePort } from '../ports.js';
import { type ManagedProcess, spawnManaged, waitFor } from '../proc.js';
import { tools } from '../tools.js';
import { httpOk, makeWorkDir, type Peer } from './common.js';

/** GET against the apiserver, trusting only the test CA. Resolves with status and body. */
function apiGet(url: string, caPem: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ca: caPem, headers: { authorization: `Bearer ${token}` }, timeout: 2_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function apiOk(url: string, caPem: string, token: string): Promise<true | undefined> {
  const { status } = await apiGet(url, caPem, token);
  return status === 200 ? true : undefined;
}

export interface KubeInfo {
  /** Path of an admin kubeconfig (group system:masters). */
  kubeconfig: string;
  server: string;
  token: string;
  caFile: string;
  caPem: string;
  /** Issuer of service-account tokens; its OIDC discovery document is served by the apiserver. */
  issuer: string;
  version: string;
}

export interface KubePeer extends Peer<KubeInfo> {
  /** Stops kube-apiserver (etcd keeps the data) until `startApiserver()`, for fault tests. */
  stopApiserver(): Promise<void>;
  startApiserver(): Promise<void>;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

function makeCerts(dir: string): void {
  writeFileSync(
    join(dir, 'server.ext'),
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
      '',
    ].join('\n'),
  );
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ca.key'], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-subj',
      '/CN=oneclaw-test-ca',
      '-days',
      '7',
      '-out',
      'ca.crt',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'server.key'], dir);
  openssl(['req', '-new', '-key', 'server.key', '-subj', '/CN=kube-apiserver', '-out', 'server.csr'], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '7',
      '-out',
      'server.crt',
      '-extfile',
      'server.ext',
    ],
    dir,
  );
  // Service-account token signing key (RS256, what most clusters use).
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function kubeconfigYaml(server: string, caPem: string, token: string): string {
  const ca = Buffer.from(caPem).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: oneclaw-test
  cluster:
    server: ${server}
    certificate-authority-data: ${ca}
users:
- name: admin
  user:
    token: ${token}
contexts:
- name: oneclaw-test
  context:
    cluster: oneclaw-test
    user: admin
    namespace: default
current-context: oneclaw-test
`;
}

export interface KubeOptions {
  /** Admission plugins enabled beyond the apiserver's defaults. */
  admissionPlugins?: string[];
}

export async function startKube(options: KubeOptions = {}): Promise<KubePeer> {
  const work = makeWorkDir('kube');
  const dir = work.dir;
  const procs: ManagedProcess[] = [];
  const stopAll = async () => {
    for (const p of procs.reverse()) await p.stop();
  };
  try {
    makeCerts(dir);
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const token = randomBytes(24).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), `${token},oneclaw-admin,oneclaw-admin,"system:masters"\n`);
    const server = `https://127.0.0.1:${apiPort}`;
    const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml(server, caPem, token), { mode: 0o600 });

    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcd = spawnManaged({
      name: 'etcd',
      command: tools.etcd(),
      args: [
        '--data-dir',
        join(dir, 'etcd'),
        '--listen-client-urls',
        etcdUrl,
        '--advertise-client-urls',
        etcdUrl,
        '--listen-peer-urls',
        `http://127.0.0.1:${etcdPeer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${etcdPeer}`,
        '--initial-cluster',
        `default=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync',
        '--log-level',
        'warn',
      ],
      logFile: join(dir, 'etcd.log'),
    });
    procs.push(etcd);
    await waitFor('etcd', () => httpOk(`${etcdUrl}/health`), { process: etcd });

    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${join(dir, 'server.crt')}`,
      `--tls-private-key-file=${join(dir, 'server.key')}`,
      `--client-ca-file=${join(dir, 'ca.crt')}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
      ...(options.admissionPlugins?.length
        ? [`--enable-admission-plugins=${options.admissionPlugins.join(',')}`]
        : []),
      '--v=0',
    ];
    let apiserver: ManagedProcess | undefined;
    const startApiserver = async () => {
      apiserver = spawnManaged({
        name: 'kube-apiserver',
        command: tools.kubeApiserver(),
        args: apiserverArgs,
        logFile: join(dir, 'kube-apiserver.log'),
      });
      procs.push(apiserver);
      await waitFor('kube-apiserver /readyz', () => apiOk(`${server}/readyz`, caPem, token), {
        process: apiserver,
        timeoutMs: 90_000,
        intervalMs: 250,
      });
    };
    await startApiserver();

    const kcm = spawnManaged({
      name: 'kube-controller-manager',
      command: tools.kubeControllerManager(),
      args: [
        `--kubeconfig=${kubeconfig}`,
        '--leader-elect=false',
        '--controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller',
        `--service-account-private-key-file=${join(dir, 'sa.key')}`,
        `--root-ca-file=${join(dir, 'ca.crt')}`,
        '--use-service-account-credentials=false',
        '--secure-port=0',
        '--v=0',
      ],
      logFile: join(dir, 'kube-controller-manager.log'),
    });
    procs.push(kcm);
    // The service-account controller creating `default` proves the controllers run.
    await waitFor(
      'kube-controller-manager (default ServiceAccount)',
      () => apiOk(`${server}/api/v1/namespaces/default/serviceaccounts/default`, caPem, token),
      { process: kcm, timeoutMs: 60_000, intervalMs: 250 },
    );

    const version = (
      JSON.parse((await apiGet(`${server}/version`, caPem, token)).body) as { gitVersion: string }
    ).gitVersion;

    return {
      info: { kubeconfig, server, token, caFile: join(dir, 'ca.crt'), caPem, issuer: server, version },
      async stopApiserver() {
        await apiserver?.stop();
      },
      startApiserver,
      async stop() {
        await stopAll();
        work.remove();
      },
    };
  } catch (err) {
    await stopAll();
    work.remove();
    throw err;
  }
}
