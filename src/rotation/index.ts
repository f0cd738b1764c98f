/**
 * Key rotation tools: find every payload in a history or payload document, count them by key id, and re-encrypt
 * the ones under old keys with the active key. Ready for `export * from './rotation/index.js'` in `src/index.ts`;
 * the file helpers the CLI uses (`atomic-file.ts`) and the located parser stay internal.
 */
export { RewrapKeyMissingError } from './errors.js';
export {
  rewrapJson,
  rewrapJsonText,
  type RewrapOptions,
  type RewrapResult,
  type RewrapTextResult,
} from './rewrap.js';
export {
  countKeyIds,
  isPayloadJson,
  walkPayloads,
  type PayloadCounts,
  type PayloadJsonNode,
  type PayloadVisitor,
} from './walk-payloads.js';
