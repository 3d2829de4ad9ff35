#!/usr/bin/env node
/**
 * The `fastpath` command: wires the harness, the suites and the reference server.
 * Exit codes: 0 success, 1 a check failed (e.g. any FAILED case), 2 usage or target error.
 */
import { Command, CommanderError } from 'commander';
import { isFastPathError } from '../protocol/index.js';
import { conformanceCases } from '../suites/index.js';
import { registerBench } from './bench.js';
import { registerConform } from './conform.js';
import { registerCrash } from './crash.js';
import { registerFuzz } from './fuzz.js';
import { registerQueue } from './queue.js';
import { registerServe } from './serve.js';
import { registerShm } from './shm.js';
import { registerSoak } from './soak.js';
import { readPackageVersion } from './package-info.js';

/** Errors that mean "you called it wrong" or "the target is unusable": exit 2. */
const USAGE_CODES = new Set([
  'FP_USAGE',
  'FP_FRAMING_INVALID',
  'FP_AUTH_INVALID',
  'FP_CONFIG_INVALID',
  'FP_TARGET_INVALID',
  'FP_TARGET_START_FAILED',
  'FP_TARGET_UNREACHABLE',
  'FP_SOCKET_IN_USE',
  'FP_SOCKET_NOT_SOCKET',
  'FP_LEDGER_INVALID',
  'FP_QUEUE_OPEN',
  'FP_QUEUE_READ_ONLY',
  'FP_QUEUE_LOCKED',
]);

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('fastpath')
    .description('Conformance suite and benchmark harness for local IPC servers')
    .version(readPackageVersion())
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) })
    .showSuggestionAfterError(true);
  program.commands.forEach((c) => c.exitOverride());
  registerServe(program);
  registerConform(program, conformanceCases);
  registerFuzz(program);
  registerBench(program);
  registerShm(program);
  registerCrash(program);
  registerQueue(program);
  registerSoak(program);
  for (const cmd of program.commands) cmd.exitOverride();
  try {
    await program.parseAsync(argv as string[], { from: 'node' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      // commander already printed its one-line message.
      return 2;
    }
    if (isFastPathError(err)) {
      process.stderr.write(`fastpath: ${err.message}\n`);
      return USAGE_CODES.has(err.code) ? 2 : 1;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`fastpath: unexpected error: ${message}\n`);
    if (process.env.FASTPATH_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

const code = await main(process.argv);
process.exitCode = code;
