import type { CaseResult, ConformanceResult, ModeResult } from './runner.js';

/**
 * JUnit XML for CI: a `<testsuite>` per mode, a `<testcase>` per case. FAILED →
 * `<failure>` with expected and actual; UNIMPLEMENTED → `<skipped>`; a mode whose
 * target did not start → an `<error>` testcase. NON-STRICT and INFORMATIONAL pass,
 * with the verdict as a property and the observation in `<system-out>`.
 */

// XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Escapes text content; characters XML cannot carry become U+FFFD. */
export function escapeXmlText(text: string): string {
  return text
    .replace(INVALID_XML_CHARS, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/** Escapes an attribute value (quotes and line breaks too). */
export function escapeXmlAttr(text: string): string {
  return escapeXmlText(text)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;')
    .replace(/\t/g, '&#9;');
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function oneLine(text: string, max = 500): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** Options of {@link renderJunit}. */
export interface JunitOptions {
  /** Path of a case's JSON report, quoted in failures. */
  readonly caseFile?: ((c: CaseResult) => string) | undefined;
}

function caseDetails(c: CaseResult, caseFile: JunitOptions['caseFile']): string {
  const lines = [`§${c.section} ${c.level}: ${c.description}`, `expected: ${c.expected}`, `actual:   ${c.actual}`];
  if (caseFile !== undefined) lines.push(`details:  ${caseFile(c)}`);
  if (c.stderrTail !== undefined) lines.push('target stderr (tail):', c.stderrTail.slice(-2_000));
  return lines.join('\n');
}

function renderCase(c: CaseResult, suiteName: string, caseFile: JunitOptions['caseFile']): string {
  const open = `    <testcase classname="${escapeXmlAttr(`conform.${suiteName}`)}" name="${escapeXmlAttr(c.id)}" time="${seconds(c.durationMs)}">`;
  const props = `      <properties><property name="verdict" value="${escapeXmlAttr(c.verdict)}"/><property name="section" value="${escapeXmlAttr(c.section)}"/><property name="level" value="${escapeXmlAttr(c.level)}"/></properties>`;
  const body: string[] = [props];
  switch (c.verdict) {
    case 'FAILED':
      body.push(
        `      <failure type="FAILED" message="${escapeXmlAttr(oneLine(`expected: ${c.expected}; actual: ${c.actual}`))}">${escapeXmlText(caseDetails(c, caseFile))}</failure>`,
      );
      break;
    case 'UNIMPLEMENTED':
      body.push(`      <skipped message="${escapeXmlAttr(oneLine(c.actual))}"/>`);
      break;
    case 'NON-STRICT':
    case 'INFORMATIONAL':
      body.push(`      <system-out>${escapeXmlText(`${c.verdict}\n${caseDetails(c, caseFile)}`)}</system-out>`);
      break;
    case 'OK':
      break;
  }
  return [open, ...body, '    </testcase>'].join('\n');
}

function renderSuite(m: ModeResult, caseFile: JunitOptions['caseFile']): string {
  const failures = m.summary.FAILED;
  const skipped = m.summary.UNIMPLEMENTED;
  const errors = m.startError === undefined ? 0 : 1;
  const tests = m.cases.length + errors;
  const open = `  <testsuite name="${escapeXmlAttr(m.label)}" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds(m.summary.durationMs)}" timestamp="${escapeXmlAttr(m.startedAt)}">`;
  const parts = [open];
  if (m.startError !== undefined) {
    parts.push(
      `    <testcase classname="${escapeXmlAttr(`conform.${m.label}`)}" name="target-start" time="0.000">`,
      `      <error type="TARGET_START_FAILED" message="${escapeXmlAttr(oneLine(m.startError))}">${escapeXmlText(m.startError)}</error>`,
      '    </testcase>',
    );
  }
  for (const c of m.cases) parts.push(renderCase(c, m.label, caseFile));
  parts.push('  </testsuite>');
  return parts.join('\n');
}

/** Renders the JUnit XML document of a run. */
export function renderJunit(result: ConformanceResult, opts: JunitOptions = {}): string {
  const errors = result.modes.filter((m) => m.startError !== undefined).length;
  const s = result.summary;
  const head = `<testsuites name="${escapeXmlAttr(`fastpath conform ${result.target.name}`)}" tests="${s.total + errors}" failures="${s.FAILED}" errors="${errors}" skipped="${s.UNIMPLEMENTED}" time="${seconds(s.durationMs)}">`;
  return ['<?xml version="1.0" encoding="UTF-8"?>', head, ...result.modes.map((m) => renderSuite(m, opts.caseFile)), '</testsuites>', ''].join('\n');
}
