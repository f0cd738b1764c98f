/**
 * The failure converter a Worker loads by path (`failureConverterPath`) into its workflow sandbox. It moves failure
 * messages and stack traces into an encoded attributes payload, so the payload codecs encrypt them too.
 *
 * @example
 * Worker.create({ dataConverter: createDataConverter(), ... }) // sets failureConverterPath to this module
 */
import { DefaultFailureConverter } from '@temporalio/common';

/** A {@link DefaultFailureConverter} with `encodeCommonAttributes: true`. */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
