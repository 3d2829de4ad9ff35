/** Suites: conformance cases and fuzz properties (more suites — benchmarks — live beside them). */
export { conformanceCases } from './conformance/index.js';
export { fuzzProperties } from './fuzz/index.js';
