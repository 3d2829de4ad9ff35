import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ConformanceCase } from '../../harness/case.js';
import { CapabilitiesSchema } from '../../harness/target-file.js';
import { makeMode } from '../../harness/targets.js';
import { AUTH_MODES } from '../../protocol/index.js';
import { authCases, conformanceCases, fastSessionCases, framingCases, lifecycleCases, messageCases, replyCases, signalCases, transportCases } from './index.js';
import { missingCapability } from '../../harness/runner.js';

const here = dirname(fileURLToPath(import.meta.url));
const specText = readFileSync(join(here, '..', '..', 'docs', 'SPEC.md'), 'utf8');

/** Section numbers of docs/SPEC.md: `## 3. Framing` headings and numbered clauses such as `3.3.1. …`. */
function specSections(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^(?:#{1,6}\s+)?(\d+(?:\.\d+)*)\.\s/.exec(line);
    if (m?.[1] !== undefined) out.add(m[1]);
  }
  return out;
}

const SECTIONS = specSections(specText);
const ID_PATTERN = /^[a-z0-9]+(\.[a-z0-9-]+)+$/;
const CAPABILITIES = new Set(Object.keys(CapabilitiesSchema.shape));

/** Every mode shape the cases must cope with: presets × auth modes, plus an lp variant with a header. */
const SAMPLE_MODES = ['ndjson', 'lp32-json', 'lp32-msgpack', 'lp:2:le:frame:01:msgpack', 'lp:4:be:body:a5:json'].flatMap((f) =>
  AUTH_MODES.map((a) => makeMode(f, a, 'secret')),
);

const sources = readdirSync(here)
  .filter((f) => /^s\d\d-.*\.ts$/.test(f) && !f.endsWith('.test.ts'))
  .map((f) => readFileSync(join(here, f), 'utf8'))
  .join('\n');

describe('conformance cases', () => {
  it('has at least 80 cases', () => {
    expect(conformanceCases.length).toBeGreaterThanOrEqual(80);
  });

  it('parses the section numbers of docs/SPEC.md', () => {
    for (const s of ['2', '2.3', '3.1.1', '3.3.4', '4.4.3', '5.6', '6.3.1', '7.4', '10', '10.1.2', '10.5', '11', '11.1.3', '11.2.6', '11.3.1']) expect(SECTIONS.has(s), s).toBe(true);
  });

  it('uses unique, dotted, lowercase ids', () => {
    const ids = conformanceCases.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id, id).toMatch(ID_PATTERN);
  });

  it('writes every id literally in a case file (never computed or positional)', () => {
    for (const c of conformanceCases) expect(sources.includes(`'${c.id}'`), c.id).toBe(true);
  });

  it('names a section that exists in docs/SPEC.md', () => {
    for (const c of conformanceCases) expect(SECTIONS.has(c.section), `${c.id}: §${c.section}`).toBe(true);
  });

  it('keeps every case in the file of its spec section', () => {
    const files: ReadonlyArray<[string, readonly ConformanceCase[]]> = [
      ['2', transportCases],
      ['3', framingCases],
      ['4', authCases],
      ['5', replyCases],
      ['6', signalCases],
      ['7', lifecycleCases],
      ['10', fastSessionCases],
      ['11', messageCases],
    ];
    for (const [top, cases] of files) for (const c of cases) expect(c.section.split('.')[0], c.id).toBe(top);
  });

  it('has a valid level, a description and an expectation', () => {
    for (const c of conformanceCases) {
      expect(['MUST', 'SHOULD', 'MAY'], c.id).toContain(c.level);
      expect(c.description.length, c.id).toBeGreaterThan(20);
      expect(c.expected.length, c.id).toBeGreaterThan(3);
    }
  });

  it('requires only known capabilities', () => {
    for (const c of conformanceCases) for (const r of c.requires ?? []) expect(CAPABILITIES.has(r), `${c.id}: ${r}`).toBe(true);
  });

  it('marks every case that signals or restarts the target as disruptive and lifecycle-dependent', () => {
    for (const c of conformanceCases) {
      if (c.disruptive === true) expect(c.requires ?? [], c.id).toContain('lifecycle');
    }
    const src = (c: ConformanceCase): string => c.run.toString();
    for (const c of conformanceCases) {
      if (/signal\('SIG|restart\(|spawnSecondInstance/.test(src(c))) expect(c.disruptive, c.id).toBe(true);
    }
  });

  it('applies every case to at least one mode, without throwing', () => {
    for (const c of conformanceCases) {
      const applies = SAMPLE_MODES.filter((m) => c.appliesTo === undefined || c.appliesTo(m));
      expect(applies.length, c.id).toBeGreaterThan(0);
    }
  });

  it('covers every section of §2–§7 that states a requirement', () => {
    const covered = new Set(conformanceCases.map((c) => c.section));
    for (const s of ['2.1', '2.2', '2.3', '2.4', '3.1', '3.1.1', '3.1.2', '3.1.3', '3.2', '3.2.1', '3.2.2', '3.3', '3.3.1', '3.3.2', '3.3.3', '3.3.4', '3.5', '4.1', '4.2', '4.3', '4.3.1', '4.4', '4.4.1', '4.4.2', '4.4.3', '4.4.4', '4.5', '4.6', '5.1', '5.2', '5.3', '5.4', '5.6', '6.1', '6.2', '6.3', '6.3.1', '6.3.2', '6.4', '6.5', '6.6', '6.7', '6.8', '6.9', '6.10', '7.1', '7.2', '7.3', '7.4']) {
      expect(covered.has(s), `§${s}`).toBe(true);
    }
  });

  it('covers the fast-session clauses of §10 that a server can be judged on', () => {
    const covered = new Set(fastSessionCases.map((c) => c.section));
    for (const s of ['10', '10.1.1', '10.1.2', '10.1.4', '10.2.2', '10.2.3', '10.4.1', '10.4.2', '10.4.3', '10.5']) expect(covered.has(s), `§${s}`).toBe(true);
  });

  it('covers the message and ledger clauses of §11', () => {
    const covered = new Set(messageCases.map((c) => c.section));
    for (const s of ['11.1.1', '11.1.3', '11.2.3', '11.2.4', '11.2.5', '11.2.6', '11.3.1']) expect(covered.has(s), `§${s}`).toBe(true);
  });

  it('makes every §11 case need the ledger capability; LEDGER-request cases are UNIMPLEMENTED for the { file } form', () => {
    for (const c of messageCases) expect(c.requires ?? [], c.id).toContain('ledger');
    for (const c of conformanceCases.filter((c) => c.section.split('.')[0] === '11')) expect(messageCases, c.id).toContain(c);
    const fileForm = { ledger: { file: '{dir}/ledger.log' }, lifecycle: true };
    const requestCases = messageCases.filter((c) => missingCapability(c, fileForm, true) !== undefined).map((c) => c.id);
    expect(requestCases.sort()).toEqual(['msg.ledger.from-invalid', 'msg.ledger.limit-out-of-range', 'msg.ledger.paging']);
    for (const c of messageCases) expect(missingCapability(c, { ledger: true, lifecycle: true }, true), c.id).toBeUndefined();
    for (const c of messageCases) expect(missingCapability(c, {}, true), c.id).toMatch(/capability "ledger" not declared/);
  });

  it('makes every §10 case need the fastSession capability, so targets without it get UNIMPLEMENTED', () => {
    for (const c of fastSessionCases) expect(c.requires ?? [], c.id).toContain('fastSession');
    for (const c of conformanceCases.filter((c) => c.section.split('.')[0] === '10')) expect(fastSessionCases, c.id).toContain(c);
  });
});
