/**
 * Reads the sample's configuration: `config.yaml` (or the file named by ORDER_APP_CONFIG) and then the environment,
 * once, at start-up. The `temporal.security` section is the codec's own, read by `loadCodecOptions`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { parse as parseYaml } from 'yaml';
import {
  type CodecOptions,
  createDataConverter,
  DEFAULT_ENCRYPTION_KEY_ID,
  type KeyRing,
  loadCodecOptions,
  loadKeyRing,
} from './codec.js';

export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('./config.yaml', import.meta.url));

export interface OrderAppConfig {
  /** The Temporal frontend, `host:port`. */
  hostPort: string;
  namespace: string;
  taskQueue: string;
  /** The codec settings (`temporal.security`). */
  security: CodecOptions;
  /** The keys, when encryption is on: loaded and checked here so that a bad key stops the program at start-up. */
  keyRing: KeyRing | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadOrderAppConfig(env: Env = process.env): OrderAppConfig {
  const configFile = env.ORDER_APP_CONFIG || DEFAULT_CONFIG_FILE;
  const document = (parseYaml(readFileSync(configFile, 'utf8')) ?? {}) as { temporal?: Record<string, unknown> };
  const temporal = document.temporal ?? {};
  const security = loadCodecOptions({ configFile, env });
  const keyRing =
    security.enableEncryption === false
      ? undefined
      : loadKeyRing({
          env,
          keysDir: security.keysDir,
          encryptionKeyID: security.encryptionKeyID,
          // Warnings name the variable, never its value (e.g. a text key longer than 32 bytes).
          onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
        });
  return {
    hostPort: env.TEMPORAL_ADDRESS || stringField(temporal, 'hostPort', configFile) || 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE || stringField(temporal, 'namespace', configFile) || 'default',
    taskQueue: env.ORDER_TASK_QUEUE || stringField(temporal, 'taskQueue', configFile) || 'order-queue',
    security,
    keyRing,
  };
}

/** The data converter for the worker and the client: the same for both, or neither can read the other. */
export function orderDataConverter(config: OrderAppConfig): DataConverter {
  return createDataConverter({ ...config.security, ...(config.keyRing ? { keyRing: config.keyRing } : {}) });
}

/** One line for logs that lets an operator compare keys across processes without showing them. */
export function describeKeys(config: OrderAppConfig): string {
  if (!config.keyRing) return 'encryption off';
  const keyId = config.security.encryptionKeyID ?? DEFAULT_ENCRYPTION_KEY_ID;
  return `active key id "${keyId}" (fingerprint ${config.keyRing.fingerprint(keyId) ?? 'none'})`;
}

function stringField(section: Record<string, unknown>, name: string, file: string): string | undefined {
  const value = section[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new Error(`${file}: temporal.${name} must be a non-empty string`);
  }
  return value;
}
