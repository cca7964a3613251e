// Builds the service-account token validator the configuration asks for. TokenReview asks the
// cluster about every exchange (it notices deleted service accounts and invalidated tokens);
// JWKS verifies offline against the issuer's published keys (no apiserver call per exchange,
// but a token stays valid until it expires even if its service account is deleted).
import { existsSync, readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import type { K8sAuthConfig } from '../../config.js';
import { createJwksValidator, createTokenReviewValidator, type K8sTokenValidator } from './k8s-tokens.js';

/** Where a pod finds its own service-account token. */
const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function createK8sValidator(config: K8sAuthConfig): K8sTokenValidator | undefined {
  if (config.mode === 'off') return undefined;
  if (config.mode === 'tokenreview') {
    const kubeConfig = new KubeConfig();
    if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
    else kubeConfig.loadFromDefault();
    return createTokenReviewValidator({ kubeConfig, audience: config.audience });
  }
  const tokenFile = config.tokenFile ?? (existsSync(IN_CLUSTER_TOKEN) ? IN_CLUSTER_TOKEN : undefined);
  return createJwksValidator({
    issuer: config.issuer,
    audience: config.audience,
    ...(config.jwksUrl ? { jwksUrl: config.jwksUrl } : {}),
    ...(config.caFile ? { caPem: readFileSync(config.caFile, 'utf8') } : {}),
    ...(tokenFile ? { bearerToken: readFileSync(tokenFile, 'utf8').trim() } : {}),
  });
}
