import type { ConformanceCase } from '../../harness/case.js';
import { transportCases } from './s02-transport.js';
import { framingCases } from './s03-framing.js';
import { authCases } from './s04-auth.js';
import { replyCases } from './s05-replies.js';
import { signalCases } from './s06-signals.js';
import { lifecycleCases } from './s07-lifecycle.js';
import { fastSessionCases } from './s10-fast-session.js';
import { messageCases } from './s11-messages.js';

/**
 * The conformance suite: every case of docs/SPEC.md §2–§7, §10 and §11, in spec order. Files are
 * named after the spec sections they check; ids are literal and stable.
 */
export const conformanceCases: readonly ConformanceCase[] = [
  ...transportCases,
  ...framingCases,
  ...authCases,
  ...replyCases,
  ...signalCases,
  ...lifecycleCases,
  ...fastSessionCases,
  ...messageCases,
];

export { transportCases, framingCases, authCases, replyCases, signalCases, lifecycleCases, fastSessionCases, messageCases };
