/**
 * fastpath harness: targets (described, resolved, launched), wire connections with
 * logs, dialects, the conformance runner and its reports, the bench, crash, fuzz and
 * soak drivers. Never imports
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
export * from './bench-result.js';
export * from './bench-scenario.js';
export * from './bench-runner.js';
export * from './bench-files.js';
export * from './bench-report-console.js';
export * from './bench-report-html.js';
export * from './bench-report-schema.js';
export * from './bench-compare.js';
export * from './latency-histogram.js';
export * from './interval-log.js';
export * from './load-plan.js';
export * from './load-runner.js';
export * from './load-group.js';
export * from './http-bench.js';
export * from './pinning.js';
export * from './bench-env.js';
export * from './native-tools.js';
export * from './echo-peer.js';
export * from './fast-session-client.js';
export * from './fast-session-bench.js';
export * from './crash-driver.js';
export * from './fuzz-property.js';
export * from './fuzz-runner.js';
export * from './fuzz-replay.js';
export * from './fuzz-oracles.js';
export * from './fuzz-plan.js';
export * from './soak-driver.js';
export * from './soak-sampler.js';
export * from './soak-trend.js';
export * from './soak-verdict.js';
export * from './soak-progress.js';
export * from './soak-report-html.js';
export * from './soak-report-console.js';
