/** Suites: conformance cases (more suites — properties, benchmarks — live beside it). */
export { conformanceCases } from './conformance/index.js';
