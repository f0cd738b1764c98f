/**
 * The one import of the codec package in this example. In an application this line reads
 * `from 'temporal-payload-codec'`; here it points at the source so the example and its tests run from a checkout.
 */
export {
  createDataConverter,
  DEFAULT_ENCRYPTION_KEY_ID,
  loadCodecOptions,
  loadKeyRing,
  type CodecOptions,
  type KeyRing,
} from '../../src/index.js';
