// Errors the emulator returns, as gRPC status codes with messages worded like Cloud KMS's own.
import { status } from '@grpc/grpc-js';

export class KmsError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'KmsError';
  }
}

export function notFound(kind: string, name: string): KmsError {
  return new KmsError(status.NOT_FOUND, `${kind} ${name} not found.`);
}

export function alreadyExists(kind: string, name: string): KmsError {
  return new KmsError(status.ALREADY_EXISTS, `${kind} ${name} already exists.`);
}

export function invalidArgument(message: string): KmsError {
  return new KmsError(status.INVALID_ARGUMENT, message);
}

export function failedPrecondition(message: string): KmsError {
  return new KmsError(status.FAILED_PRECONDITION, message);
}

export function unimplemented(message: string): KmsError {
  return new KmsError(status.UNIMPLEMENTED, `${message} (not supported by the oneclaw GCP KMS emulator)`);
}
