/**
 * fastpath harness: targets (described, resolved, launched), wire connections with
 * logs, dialects, the conformance runner and its reports. Never imports
 * reference-impl/ or suites/ (DESIGN "Layers").
 */
export * from './case.js';
export * from './dialect.js';
export * from './target-file.js';
export * from './targets.js';
export * from './launcher.js';
export * from './wire-log.js';
export * from './wire-connection.js';
export * from './runner.js';
export * from './report-json.js';
export * from './report-junit.js';
export * from './console-report.js';
