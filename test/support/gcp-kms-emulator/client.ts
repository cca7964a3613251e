// The official Cloud KMS client pointed at the emulator, for tests.
//
// No Google credentials are ever looked up: `sslCreds` replaces the channel credentials that
// google-gax would otherwise build from google-auth-library (plain-text gRPC, no call
// credentials), `universeDomain` answers gax's universe-domain check without asking
// google-auth for a client (which would search for ADC and probe the GCE metadata server),
// and `projectId` answers getProjectId() without a lookup.

import { KeyManagementServiceClient } from '@google-cloud/kms';
import * as grpc from '@grpc/grpc-js';

export const GCP_KMS_TEST_PROJECT = 'oneclaw-test';

export function gcpKmsTestClient(host: string, port: number): KeyManagementServiceClient {
  return new KeyManagementServiceClient({
    apiEndpoint: host,
    port,
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: 'googleapis.com',
    projectId: GCP_KMS_TEST_PROJECT,
  });
}
