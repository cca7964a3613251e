// What every human command needs from the global options: the output format and a client.
import { type Command, InvalidArgumentError } from 'commander';
import type { OneclawClient } from '../../../sdk/src/index.js';
import { type Format, parseFormat } from '../lib/output.js';
import { type GlobalOptions, openClient } from '../lib/session.js';

export interface Context {
  format: Format;
  globals: GlobalOptions;
  client(): Promise<OneclawClient>;
}

export function context(cmd: Command): Context {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const format = parseFormat(globals.output);
  let client: Promise<OneclawClient> | undefined;
  return {
    format,
    globals,
    client: () => {
      client ??= openClient(globals);
      return client;
    },
  };
}

/** A positive integer option. */
export function intOption(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return Number(value);
  };
}

/** Repeatable option collector. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];
