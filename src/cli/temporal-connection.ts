/**
 * Connecting to Temporal the way Temporal's own tools do: `@temporalio/envconfig` reads the profile of the config
 * file (`temporal.toml`, `--config-file`, `TEMPORAL_CONFIG_FILE`, `--profile`, `TEMPORAL_PROFILE`) and the
 * `TEMPORAL_*` variables over it (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS`,
 * `TEMPORAL_TLS_CLIENT_CERT_PATH` / `_DATA`, `TEMPORAL_TLS_CLIENT_KEY_PATH` / `_DATA`,
 * `TEMPORAL_TLS_SERVER_CA_CERT_PATH` / `_DATA`, `TEMPORAL_TLS_SERVER_NAME`, `TEMPORAL_GRPC_META_*`); flags override both.
 *
 * `@temporalio/client` and `@temporalio/envconfig` are optional peer dependencies: loaded here, when a command that
 * talks to Temporal runs, and never by the library or the other commands.
 */
import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { CliExit, type CliIo } from './io.js';

type ClientModule = typeof import('@temporalio/client');
type EnvconfigModule = typeof import('@temporalio/envconfig');
type ClientConfigProfile = import('@temporalio/envconfig').ClientConfigProfile;
type ClientConfigTLS = import('@temporalio/envconfig').ClientConfigTLS;
type ConnectionOptions = import('@temporalio/client').ConnectionOptions;

/** The connection flags, as commander parses them. */
export interface ConnectionFlags {
  address?: string;
  namespace?: string;
  apiKey?: string;
  apiKeyFile?: string;
  tls?: boolean;
  tlsCertPath?: string;
  tlsKeyPath?: string;
  tlsCaPath?: string;
  tlsServerName?: string;
  profile?: string;
  configFile?: string;
}

export const DEFAULT_ADDRESS = 'localhost:7233';
export const DEFAULT_NAMESPACE = 'default';

/** Adds the flags of `temporal` (the CLI) for reaching a server: address, namespace, API key, TLS, profile. */
export function addConnectionFlags(command: Command): Command {
  return command
    .option('--address <host:port>', `Temporal frontend (env: TEMPORAL_ADDRESS; default: ${DEFAULT_ADDRESS})`)
    .option('-n, --namespace <name>', `namespace (env: TEMPORAL_NAMESPACE; default: ${DEFAULT_NAMESPACE})`)
    .option('--api-key <key>', 'API key, e.g. for Temporal Cloud; turns TLS on (env: TEMPORAL_API_KEY)')
    .option('--api-key-file <file>', 'read the API key from a file (safer than --api-key, which ps shows)')
    .option('--tls', 'connect with TLS (env: TEMPORAL_TLS=true)')
    .addOption(new Option('--no-tls', 'connect without TLS, even with an API key (env: TEMPORAL_TLS=false)'))
    .option('--tls-cert-path <file>', 'client certificate for mTLS, PEM (env: TEMPORAL_TLS_CLIENT_CERT_PATH or _DATA)')
    .option('--tls-key-path <file>', 'client private key for mTLS, PEM (env: TEMPORAL_TLS_CLIENT_KEY_PATH or _DATA)')
    .option('--tls-ca-path <file>', 'CA certificate to verify the server with, PEM (env: TEMPORAL_TLS_SERVER_CA_CERT_PATH)')
    .option('--tls-server-name <name>', 'server name to verify in the certificate (env: TEMPORAL_TLS_SERVER_NAME)')
    .option('--profile <name>', 'profile of the Temporal config file (env: TEMPORAL_PROFILE; default: "default")')
    .option('--config-file <file>', 'Temporal config file, TOML (env: TEMPORAL_CONFIG_FILE; default: temporalio/temporal.toml in the user config directory)');
}

/** How to load the optional peers; tests pass their own. */
export interface TemporalImporters {
  client: () => Promise<ClientModule>;
  envconfig: () => Promise<EnvconfigModule>;
}

const DEFAULT_IMPORTERS: TemporalImporters = {
  client: () => import('@temporalio/client'),
  envconfig: () => import('@temporalio/envconfig'),
};

/** The optional peers, or a one-line CliExit that says what to install. */
export async function loadTemporalModules(
  importers: TemporalImporters = DEFAULT_IMPORTERS,
): Promise<{ client: ClientModule; envconfig: EnvconfigModule }> {
  const load = async <T>(name: string, importer: () => Promise<T>): Promise<T> => {
    try {
      const module = (await importer()) as T & { default?: T };
      // A CommonJS package seen from ESM: the named exports may only be on the default export.
      return module.default && typeof module.default === 'object' ? { ...module.default, ...module } : module;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException)?.code;
      if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((error as Error).message).includes(name)) {
        throw new CliExit(
          1,
          `this command needs ${name}, an optional peer dependency that is not installed: ` +
            'npm install @temporalio/client @temporalio/envconfig',
        );
      }
      throw error;
    }
  };
  return {
    client: await load('@temporalio/client', importers.client),
    envconfig: await load('@temporalio/envconfig', importers.envconfig),
  };
}

/** Where and how to connect, resolved from the config file's profile, the environment and the flags. */
export interface ResolvedConnection {
  address: string;
  namespace: string;
  connectionOptions: ConnectionOptions;
}

/** Resolves the connection settings without connecting: profile, then environment, then flags. */
export function resolveConnection(
  flags: ConnectionFlags,
  env: Readonly<Record<string, string | undefined>>,
  envconfig: Pick<EnvconfigModule, 'loadClientConfigProfile' | 'toClientOptions'>,
): ResolvedConnection {
  if (flags.apiKey !== undefined && flags.apiKeyFile !== undefined) {
    throw new CliExit(2, '--api-key and --api-key-file are exclusive: give one');
  }
  const tlsFileFlags = [flags.tlsCertPath, flags.tlsKeyPath, flags.tlsCaPath, flags.tlsServerName];
  if (flags.tls === false && tlsFileFlags.some((value) => value !== undefined)) {
    throw new CliExit(2, '--no-tls contradicts the --tls-* flags');
  }

  const overrideEnvVars: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) overrideEnvVars[name] = value;
  let profile: ClientConfigProfile;
  try {
    profile = envconfig.loadClientConfigProfile({
      ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
      ...(flags.configFile !== undefined ? { configSource: { data: readConfigFile(flags.configFile) } } : {}),
      overrideEnvVars,
    });
  } catch (error) {
    if (error instanceof CliExit) throw error;
    throw new CliExit(1, `cannot load the Temporal connection profile: ${firstLine(error)}`);
  }

  if (flags.address !== undefined) profile.address = flags.address;
  if (flags.namespace !== undefined) profile.namespace = flags.namespace;
  if (flags.apiKey !== undefined) profile.apiKey = flags.apiKey;
  if (flags.apiKeyFile !== undefined) profile.apiKey = readApiKeyFile(flags.apiKeyFile);

  if (flags.tls !== undefined || tlsFileFlags.some((value) => value !== undefined)) {
    const tls: ClientConfigTLS = { ...profile.tls, disabled: flags.tls === false };
    if (flags.tlsCertPath !== undefined) tls.clientCert = { path: flags.tlsCertPath };
    if (flags.tlsKeyPath !== undefined) tls.clientKey = { path: flags.tlsKeyPath };
    if (flags.tlsCaPath !== undefined) tls.serverCACert = { path: flags.tlsCaPath };
    if (flags.tlsServerName !== undefined) tls.serverName = flags.tlsServerName;
    profile.tls = tls;
  }
  // envconfig drops a certificate without its key (or the reverse) without a word: mTLS would then silently be off.
  if (profile.tls && !profile.tls.disabled && (profile.tls.clientCert === undefined) !== (profile.tls.clientKey === undefined)) {
    throw new CliExit(2, 'mTLS needs both the client certificate and its key (--tls-cert-path and --tls-key-path)');
  }

  let options;
  try {
    options = envconfig.toClientOptions(profile);
  } catch (error) {
    throw new CliExit(1, `cannot load the TLS files: ${firstLine(error)}`);
  }
  const address = options.connectionOptions.address ?? DEFAULT_ADDRESS;
  const { tls, apiKey, metadata } = options.connectionOptions;
  return {
    address,
    namespace: options.namespace ?? DEFAULT_NAMESPACE,
    connectionOptions: {
      address,
      ...(tls !== undefined ? { tls } : {}),
      ...(apiKey !== undefined ? { apiKey } : {}),
      ...(metadata !== undefined ? { metadata } : {}),
    },
  };
}

/** A connected client and how to close it. */
export interface TemporalConnection {
  client: InstanceType<ClientModule['Client']>;
  address: string;
  namespace: string;
  close(): Promise<void>;
}

/** Loads the optional peers, resolves the settings and connects; every failure is a one-line CliExit. */
export async function connectTemporal(
  flags: ConnectionFlags,
  io: CliIo,
  importers?: TemporalImporters,
): Promise<TemporalConnection> {
  const modules = await loadTemporalModules(importers);
  const resolved = resolveConnection(flags, io.env, modules.envconfig);
  let connection;
  try {
    connection = await modules.client.Connection.connect(resolved.connectionOptions);
  } catch (error) {
    throw new CliExit(1, `cannot connect to Temporal at ${resolved.address}: ${firstLine(error)}`);
  }
  const client = new modules.client.Client({ connection, namespace: resolved.namespace });
  return { client, address: resolved.address, namespace: resolved.namespace, close: () => connection.close() };
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliExit(1, `cannot read --config-file ${file}: ${(error as NodeJS.ErrnoException).code ?? firstLine(error)}`);
  }
}

function readApiKeyFile(file: string): string {
  let key: string;
  try {
    key = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new CliExit(1, `cannot read --api-key-file ${file}: ${(error as NodeJS.ErrnoException).code ?? firstLine(error)}`);
  }
  if (key === '') throw new CliExit(1, `--api-key-file ${file} is empty`);
  return key;
}

/** The first line of an error's message: TOML parse errors go on to quote the file, which may hold an API key. */
function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0]!.trim();
}
