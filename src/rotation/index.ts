/**
 * Key rotation tools: find every payload in a history or payload document, count them by key id, re-encrypt the
 * ones under old keys with the active key, and scan a namespace's retained histories and schedules for the key ids they need. Re-exported by `src/index.ts`;
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
  type CountKeyIdsOptions,
  isPayloadJson,
  isPayloadProto,
  walkPayloads,
  walkProtoPayloads,
  type PayloadCounts,
  type PayloadJsonNode,
  type PayloadProtoNode,
  type PayloadVisitor,
  type UninspectedByReason,
} from './walk-payloads.js';
export {
  DEFAULT_SCAN_CONCURRENCY,
  scanWorkflowHistories,
  type ScanClient,
  type ScanOptions,
  type ScanProgress,
  ScheduleListingError,
} from './scan.js';
export type {
  KeyScanReport,
  KeyVerdict,
  OpenWorkflowOnInactiveKey,
  ScanFailure,
  ScanReport,
  ScheduleOnInactiveKey,
  ScheduleScanFailure,
} from './scan-report.js';
