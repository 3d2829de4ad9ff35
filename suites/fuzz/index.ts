import type { FuzzProperty } from '../../harness/fuzz-property.js';
import { frameFuzzProperties } from './frames.js';
import { lifecycleFuzzProperties } from './lifecycle.js';
import { transportFuzzProperties } from './transport.js';

/**
 * Every fuzz property `fastpath fuzz` runs (docs/FUZZ.md): frame-level (§3–§5),
 * transport-level (§3.1, §5.2, §7.1) and the stateful lifecycle properties (§4.4.3,
 * §6, §11).
 */
export const fuzzProperties: readonly FuzzProperty[] = [...frameFuzzProperties, ...transportFuzzProperties, ...lifecycleFuzzProperties];

export { frameFuzzProperties } from './frames.js';
export { transportFuzzProperties } from './transport.js';
export { lifecycleFuzzProperties } from './lifecycle.js';
