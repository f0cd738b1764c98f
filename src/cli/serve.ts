import cluster from 'node:cluster';
import type { Command } from 'commander';
import { CODEC_ENV } from '../index.js';
import {
  DEFAULT_HOST,
  DEFAULT_PORT,
  loadServeConfig,
  LOG_LEVELS,
  SERVE_ENV,
  ServeConfigError,
  type ServeFlags,
} from '../server/config.js';
import { runServe } from '../server/main.js';
import { CliExit, type CliIo } from './io.js';

const HELP_AFTER = `
Every flag has an environment variable; a flag wins over its variable, a variable over the config file.

Keys (never logged, only their fingerprints):
  TEMPORAL_ENCRYPTION_KEY_<id>   the key for key id <id> (base64:..., hex:..., or 32+ bytes of text)
  TEMPORAL_ENCRYPTION_KEY        the key for every id without a variable of its own
  --keys-dir DIR                 one file per key id (a mounted Kubernetes Secret); DIR/.active-key-id, if present,
                                 names the active key id. Reloaded without a restart on SIGHUP and when the files
                                 change; a key set that does not load is rejected and the previous one kept.
  --namespace-keys FILE          per namespace, the key ids it may decode and the one it encodes with:
                                   production: {keyIds: [prod-2025, prod-2026], activeKeyId: prod-2026}
                                   staging: {keyIds: ["staging-*"], activeKeyId: staging-1}
                                 ("*" as a namespace serves the rest; without it, other namespaces get 404;
                                 or a namespaces: section in --config)

Authentication (required off loopback; a request with no namespace is for namespace "default"):
  --auth-tokens-file FILE        static bearer tokens, YAML or JSON (TEMPORAL_CODEC_AUTH_TOKENS: the same JSON):
                                   - {name: ci, tokenSha256: <hex>, namespaces: [staging], rights: [decode]}
                                   - {name: ops, token: <32+ chars>, namespaces: "*", rights: [decode, encode]}
                                 The file is reloaded on SIGHUP and when it changes; a list that does not read
                                 is rejected and the tokens in use kept.
  --oidc-issuer URL | --jwks-url URL   JWTs (the Web UI's access token), with --jwt-audience, and --jwt-issuer
                                 for --jwks-url. Rights come from the permissions claim, Temporal's format
                                 "<namespace>:<role>": read (or more) decodes, write (or more) encodes;
                                 "system:admin" covers every namespace.
  401: no or bad token; 403: a good token without the right; 503: the identity provider's keys cannot be fetched.

Routes:
  POST <any prefix>/encode, POST <any prefix>/decode   {"payloads": [...]} in and out
  GET /livez, GET /readyz (503 while shutting down), GET /metrics (Prometheus; with --metrics-port, only there)

Security: an unauthenticated codec server decrypts for anyone who can reach it. Off loopback it refuses to start
without authentication, unless --allow-unauthenticated says a proxy in front of it authenticates every request.
Without --namespace-keys every namespace shares one key ring, and the namespace is only a label the caller sends:
a namespace limit (a token's namespaces, JWT permissions, --anonymous-decode-namespaces) decides what a caller may
ask for, not which payloads it can decode (a warning at start-up says so). Off loopback,
--anonymous-decode-namespaces needs --allow-unauthenticated whenever it would let anyone decode another
namespace's payloads: without --namespace-keys, or with namespace keys that give an anonymous namespace a key
another namespace's entry (or the "*" entry) also opens.

Examples:
  TEMPORAL_ENCRYPTION_KEY_default=base64:... temporal-codec serve --cors-origins http://localhost:8233
  temporal-codec serve --host 0.0.0.0 --auth-tokens-file tokens.yaml --tls-cert tls.crt --tls-key tls.key --workers 2
  temporal-codec serve --host 0.0.0.0 --oidc-issuer https://idp.example.com/ --jwt-audience temporal-ui
`;

/** Each option: flags, what it does and its default, and the variable that sets it when the flag is absent. */
const OPTIONS: readonly (readonly [flags: string, description: string, variable: string])[] = [
  ['--host <address>', `address to listen on; default ${DEFAULT_HOST}`, SERVE_ENV.host],
  ['--port <number>', `port to listen on; default ${DEFAULT_PORT}, 0 picks a free one`, SERVE_ENV.port],
  ['--metrics-port <number>', 'serve GET /metrics, /livez and /readyz on this port too (plain http, same host), and not /metrics on --port; 0 picks a free one; default none', SERVE_ENV.metricsPort],
  ['--cors-origins <list>', 'comma-separated exact origins of the Web UI (https://temporal.example.com); default none', SERVE_ENV.corsOrigins],
  ['--cors-max-age <seconds>', 'how long browsers may cache a preflight; default 7200', SERVE_ENV.corsMaxAge],
  ['--body-limit <size>', 'largest request body; default 4MiB', SERVE_ENV.bodyLimit],
  ['--max-payloads <n>', 'most payloads in one request; default 1000', SERVE_ENV.maxPayloads],
  ['--max-decompressed-bytes <size>', 'most one binary/zlib payload may inflate to; default 64MiB', CODEC_ENV.maxDecompressedBytes],
  ['--max-decoded-bytes <size>', 'most all decoded payloads of a request may hold; default 2 x the above', SERVE_ENV.maxDecodedBytes],
  ['--headers-timeout <duration>', 'time a client has to send the request headers; default 5s, or the request timeout if shorter', SERVE_ENV.headersTimeout],
  ['--request-timeout <duration>', 'time a client has to send the whole request (at least the headers timeout); default 30s', SERVE_ENV.requestTimeout],
  ['--keep-alive-timeout <duration>', 'idle time before a keep-alive connection closes; default 5s', SERVE_ENV.keepAliveTimeout],
  ['--shutdown-delay <duration>', 'on SIGTERM, time /readyz answers 503 before the listener closes; default 0', SERVE_ENV.shutdownDelay],
  ['--shutdown-timeout <duration>', 'on SIGTERM, time in-flight requests get to finish; default 8s', SERVE_ENV.shutdownTimeout],
  ['--tls-cert <file>', 'PEM certificate chain: serve https (with --tls-key)', SERVE_ENV.tlsCert],
  ['--tls-key <file>', 'PEM private key of --tls-cert', SERVE_ENV.tlsKey],
  ['--log-level <level>', `${LOG_LEVELS.join(', ')}; default info`, SERVE_ENV.logLevel],
  ['--workers <n>', 'processes serving requests; default one per CPU; 1 serves in this process', SERVE_ENV.workers],
  ['--key-id <id>', 'key id new payloads are encrypted with (encryptionKeyID); default "default"', CODEC_ENV.encryptionKeyID],
  ['--keys-dir <dir>', 'directory with one key file per key id', CODEC_ENV.keysDir],
  ['--config <file>', 'YAML or JSON codec options (its temporal.security section)', CODEC_ENV.configFile],
  ['--compression-threshold <size>', 'compress payloads from this serialized size; default 1024', CODEC_ENV.compressionThreshold],
  ['--no-compression', 'do not compress on encode (decode still inflates binary/zlib)', `${CODEC_ENV.enableCompression}=false`],
  ['--allow-unauthenticated', 'serve off loopback without authentication', `${SERVE_ENV.allowUnauthenticated}=true`],
  ['--auth-tokens-file <file>', 'static bearer tokens with their namespaces and rights (YAML or JSON)', SERVE_ENV.authTokensFile],
  ['--oidc-issuer <url>', "verify JWTs against this issuer's keys (from its discovery document)", SERVE_ENV.oidcIssuer],
  ['--jwks-url <url>', 'verify JWTs against the key set at this URL', SERVE_ENV.jwksUrl],
  ['--jwt-issuer <iss>', 'required iss claim; default the --oidc-issuer', SERVE_ENV.jwtIssuer],
  ['--jwt-audience <list>', 'accepted aud values, comma-separated (required with JWTs)', SERVE_ENV.jwtAudience],
  ['--jwt-algorithms <list>', 'accepted signature algorithms; default RS256,ES256 (never HS*, never none)', SERVE_ENV.jwtAlgorithms],
  ['--jwt-permissions-claim <name>', 'claim with "<namespace>:<role>" permissions; default permissions', SERVE_ENV.jwtPermissionsClaim],
  ['--jwt-token-source <source>', 'access (Authorization), id (Authorization-Extras) or either; default access', SERVE_ENV.jwtTokenSource],
  ['--jwks-timeout <duration>', 'time one fetch of the discovery document or key set may take; default 3s', SERVE_ENV.jwksTimeout],
  ['--anonymous-decode-namespaces <list>', 'namespaces anyone may decode in without a token (off loopback: needs keys of its own under --namespace-keys, or --allow-unauthenticated); default none', SERVE_ENV.anonymousDecodeNamespaces],
  ['--namespace-keys <file>', 'per-namespace key ids and active key (YAML or JSON)', SERVE_ENV.namespaceKeys],
];

/** Registers `temporal-codec serve`: the remote codec server for the Temporal Web UI and CLI. */
export function registerServe(program: Command, io: CliIo): void {
  const command = program
    .command('serve')
    .description('Run the remote codec server that the Temporal Web UI and CLI call to encode and decode payloads.');
  for (const [flags, description, variable] of OPTIONS) command.option(flags, `${description} (env ${variable})`);
  command.addHelpText('after', HELP_AFTER).action(async (options: ServeFlags, self: Command) => {
    const flags: ServeFlags = { ...options };
    // Commander sets `compression: true` when --no-compression is absent; only a given flag may override env.
    if (self.getOptionValueSource('compression') !== 'cli') delete flags.compression;
    let loaded;
    try {
      loaded = loadServeConfig(flags, io.env);
    } catch (error) {
      // A cluster worker started again after a crash reads the settings anew, and a keys directory or tokens file
      // broken since start-up fails it: without its IPC channel it exits, and the primary reports a worker that
      // failed to start instead of waiting on one that never listens.
      if (cluster.isWorker) cluster.worker?.disconnect();
      // A malformed value is a usage error (2), as for the other commands; well-formed settings that cannot run, 1.
      if (error instanceof ServeConfigError) throw new CliExit(error.usage ? 2 : 1, error.message);
      throw error;
    }
    const code = await runServe(loaded, { stderr: io.stderr });
    if (code !== 0) throw new CliExit(code, 'the codec server stopped after an error (see the log)');
  });
}
