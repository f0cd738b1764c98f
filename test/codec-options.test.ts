import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CODEC_ENV, loadCodecOptions, validateCodecOptions } from '../src/codec-options.js';
import { ConfigError } from '../src/errors.js';
import { caughtSync, expectCodecError } from './helpers/errors.js';
import { tempDir } from './helpers/keys.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function configFile(name: string, text: string): string {
  const { dir, remove } = tempDir('config');
  cleanups.push(remove);
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function configError(fn: () => unknown, message: string): ConfigError {
  return expectCodecError(caughtSync(fn), ConfigError, 'ERR_CONFIG', message);
}

/** The shape of a Trenova `config.yaml`: the codec reads only `temporal.security`. */
const TRENOVA_YAML = `
app:
  name: trenova
  env: production
server:
  listenAddress: ":8080"
temporal:
  hostPort: temporal:7233
  namespace: default
  security:
    enableEncryption: true
    encryptionKeyID: production
    enableCompression: true
    compressionThreshold: 2048
database:
  host: postgres
`;

describe('loadCodecOptions from a config file', () => {
  it('reads the temporal.security section of a Trenova-style YAML file and nothing else', () => {
    const path = configFile('config.yaml', TRENOVA_YAML);
    expect(loadCodecOptions({ configFile: path, env: {} })).toEqual({
      enableEncryption: true,
      encryptionKeyID: 'production',
      enableCompression: true,
      compressionThreshold: 2048,
    });
  });

  it('reads the same section from a JSON file', () => {
    const path = configFile(
      'config.json',
      JSON.stringify({
        temporal: {
          hostPort: 'temporal:7233',
          security: { enableEncryption: false, enableCompression: true, maxDecompressedBytes: 1048576, keysDir: '/keys' },
        },
      }),
    );
    expect(loadCodecOptions({ configFile: path, env: {} })).toEqual({
      enableEncryption: false,
      enableCompression: true,
      maxDecompressedBytes: 1048576,
      keysDir: '/keys',
    });
  });

  it('reads a top-level security section, or the options at the top level', () => {
    const security = configFile('security.yaml', 'security:\n  encryptionKeyID: eu\n');
    expect(loadCodecOptions({ configFile: security, env: {} })).toEqual({ encryptionKeyID: 'eu' });
    const flat = configFile('flat.json', '{"compressionThreshold": 0, "enableCompression": false}');
    expect(loadCodecOptions({ configFile: flat, env: {} })).toEqual({ compressionThreshold: 0, enableCompression: false });
  });

  it('takes the file from TEMPORAL_CODEC_CONFIG when none is given', () => {
    const path = configFile('config.yaml', TRENOVA_YAML);
    expect(loadCodecOptions({ env: { TEMPORAL_CODEC_CONFIG: path } }).encryptionKeyID).toBe('production');
  });

  it('reads nothing when there is no file and no variable', () => {
    expect(loadCodecOptions({ env: {} })).toEqual({});
  });

  it.each([
    ['compressionThreshold: "2048"', 'compressionThreshold', 'a non-negative integer'],
    ['compressionThreshold: -1', 'compressionThreshold', 'a non-negative integer'],
    ['compressionThreshold: 10.5', 'compressionThreshold', 'a non-negative integer'],
    ['maxDecompressedBytes: lots', 'maxDecompressedBytes', 'an integer greater than 0'],
    ['maxDecompressedBytes: 0', 'maxDecompressedBytes', 'an integer greater than 0'],
    ['enableEncryption: "yes"', 'enableEncryption', 'true or false'],
    ['enableCompression: 1', 'enableCompression', 'true or false'],
    ['encryptionKeyID: 42', 'encryptionKeyID', 'a non-empty string'],
    ['encryptionKeyID: ""', 'encryptionKeyID', 'a non-empty string'],
    ['keysDir: [a, b]', 'keysDir', 'a non-empty string'],
  ])('refuses "%s" in temporal.security, naming the file and the field', (line, field, kind) => {
    const path = configFile('config.yaml', `temporal:\n  security:\n    ${line}\n`);
    configError(() => loadCodecOptions({ configFile: path, env: {} }), `${path}: temporal.security.${field} must be ${kind}`);
  });

  it('refuses a security section that is not a mapping', () => {
    const path = configFile('config.yaml', 'temporal:\n  security: [1, 2]\n');
    configError(() => loadCodecOptions({ configFile: path, env: {} }), `${path}: temporal.security must be an object`);
  });

  it('matches the keys of temporal.security without case, as viper does', () => {
    const path = configFile(
      'config.yaml',
      'Temporal:\n  Security:\n    EnableEncryption: true\n    encryptionKeyId: production\n    ENABLECOMPRESSION: false\n' +
        '    compressionthreshold: 2048\n    MaxDecompressedBytes: 1048576\n    keysdir: /keys\n',
    );
    expect(loadCodecOptions({ configFile: path, env: {} })).toEqual({
      enableEncryption: true,
      encryptionKeyID: 'production',
      enableCompression: false,
      compressionThreshold: 2048,
      maxDecompressedBytes: 1048576,
      keysDir: '/keys',
    });
  });

  it('checks the type of a key matched without case under its canonical name', () => {
    const path = configFile('config.yaml', 'temporal:\n  security:\n    encryptionkeyid: 42\n');
    configError(() => loadCodecOptions({ configFile: path, env: {} }), `${path}: temporal.security.encryptionKeyID must be a non-empty string`);
  });

  it.each(['encryptionKey: production', 'encryptonKeyID: production', 'hostPort: temporal:7233', 'enable_encryption: true'])(
    'refuses the unknown key of "%s" in temporal.security, naming the file and the field',
    (line) => {
      const path = configFile('config.yaml', `temporal:\n  security:\n    ${line}\n`);
      const field = line.slice(0, line.indexOf(':'));
      configError(
        () => loadCodecOptions({ configFile: path, env: {} }),
        `${path}: temporal.security.${field} is not a known setting (known: enableEncryption, encryptionKeyID, ` +
          'enableCompression, compressionThreshold, maxDecompressedBytes, keysDir)',
      );
    },
  );

  it('quotes an unknown key that is not a plain name', () => {
    const path = configFile('config.json', JSON.stringify({ temporal: { security: { 'key id\u001b[2J': 'x' } } }));
    const error = configError(
      () => loadCodecOptions({ configFile: path, env: {} }),
      `${path}: temporal.security["key id\\u001b[2J"] is not a known setting (known: enableEncryption, encryptionKeyID, ` +
        'enableCompression, compressionThreshold, maxDecompressedBytes, keysDir)',
    );
    expect(error.message).not.toContain('\u001b');
  });

  it('refuses a key of temporal.security given in two spellings', () => {
    const path = configFile('config.yaml', 'temporal:\n  security:\n    encryptionKeyID: a\n    encryptionKeyId: b\n');
    configError(
      () => loadCodecOptions({ configFile: path, env: {} }),
      `${path}: temporal.security.encryptionKeyID is set twice, as encryptionKeyID and encryptionKeyId`,
    );
    const sections = configFile('sections.yaml', 'temporal:\n  security: {}\n  Security: {}\n');
    configError(() => loadCodecOptions({ configFile: sections, env: {} }), `${sections}: temporal.security is set twice, as security and Security`);
  });

  it("accepts every key of Trenova's own temporal.security, and ignores its other top-level sections", () => {
    // Trenova's TemporalSecurityConfig has these four keys and no others; its top-level security section is its own.
    const path = configFile(
      'config.yaml',
      `${TRENOVA_YAML}security:\n  session:\n    secret: s\n  apiToken:\n    enabled: true\n`,
    );
    expect(loadCodecOptions({ configFile: path, env: {} })).toEqual({
      enableEncryption: true,
      encryptionKeyID: 'production',
      enableCompression: true,
      compressionThreshold: 2048,
    });
  });

  it('reads a top-level security section and the top level without case, and keeps their other keys', () => {
    const security = configFile('security.yaml', 'Security:\n  EncryptionKeyId: eu\n  session: {}\n');
    expect(loadCodecOptions({ configFile: security, env: {} })).toEqual({ encryptionKeyID: 'eu' });
    const flat = configFile('flat.yaml', 'encryptionkeyid: eu\nhostPort: temporal:7233\n');
    expect(loadCodecOptions({ configFile: flat, env: {} })).toEqual({ encryptionKeyID: 'eu' });
  });

  it('refuses a file whose top level is not a mapping, and reads an empty file as no options', () => {
    const list = configFile('list.yaml', '- enableEncryption: true\n');
    configError(() => loadCodecOptions({ configFile: list, env: {} }), `${list} must be an object`);
    expect(loadCodecOptions({ configFile: configFile('empty.yaml', ''), env: {} })).toEqual({});
  });

  it('refuses a file that is not YAML or JSON, and one that cannot be read', () => {
    const broken = configFile('config.yaml', 'temporal:\n  security: {enableEncryption: true\n');
    const error = configError(() => loadCodecOptions({ configFile: broken, env: {} }), `config file ${broken} is not valid YAML or JSON`);
    expect(error.cause).toBeInstanceOf(Error);
    const { dir, remove } = tempDir('missing');
    cleanups.push(remove);
    const missing = join(dir, 'nope.yaml');
    configError(() => loadCodecOptions({ configFile: missing, env: {} }), `config file ${missing} cannot be read (ENOENT)`);
  });
});

describe('loadCodecOptions from TEMPORAL_CODEC_* variables', () => {
  it('names one variable per option', () => {
    expect(CODEC_ENV).toEqual({
      configFile: 'TEMPORAL_CODEC_CONFIG',
      enableEncryption: 'TEMPORAL_CODEC_ENABLE_ENCRYPTION',
      encryptionKeyID: 'TEMPORAL_CODEC_ENCRYPTION_KEY_ID',
      enableCompression: 'TEMPORAL_CODEC_ENABLE_COMPRESSION',
      compressionThreshold: 'TEMPORAL_CODEC_COMPRESSION_THRESHOLD',
      maxDecompressedBytes: 'TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES',
      keysDir: 'TEMPORAL_CODEC_KEYS_DIR',
    });
  });

  it('lets each variable override the file', () => {
    const path = configFile('config.yaml', TRENOVA_YAML);
    const options = loadCodecOptions({
      configFile: path,
      env: {
        TEMPORAL_CODEC_ENABLE_ENCRYPTION: 'false',
        TEMPORAL_CODEC_ENCRYPTION_KEY_ID: 'rotated',
        TEMPORAL_CODEC_ENABLE_COMPRESSION: 'off',
        TEMPORAL_CODEC_COMPRESSION_THRESHOLD: '4096',
        TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES: '1048576',
        TEMPORAL_CODEC_KEYS_DIR: '/run/secrets/keys',
      },
    });
    expect(options).toEqual({
      enableEncryption: false,
      encryptionKeyID: 'rotated',
      enableCompression: false,
      compressionThreshold: 4096,
      maxDecompressedBytes: 1048576,
      keysDir: '/run/secrets/keys',
    });
  });

  it('leaves the file value when a variable is empty', () => {
    const path = configFile('config.yaml', TRENOVA_YAML);
    expect(loadCodecOptions({ configFile: path, env: { TEMPORAL_CODEC_COMPRESSION_THRESHOLD: '' } }).compressionThreshold).toBe(2048);
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['on', true],
    ['false', false],
    ['False', false],
    ['0', false],
    ['no', false],
    ['off', false],
  ])('reads %s as %s', (text, value) => {
    expect(loadCodecOptions({ env: { TEMPORAL_CODEC_ENABLE_COMPRESSION: text } })).toEqual({ enableCompression: value });
  });

  it.each([
    ['TEMPORAL_CODEC_ENABLE_ENCRYPTION', 'maybe', 'true or false'],
    ['TEMPORAL_CODEC_ENABLE_COMPRESSION', 'enabled', 'true or false'],
    ['TEMPORAL_CODEC_COMPRESSION_THRESHOLD', '-1', 'a non-negative integer'],
    ['TEMPORAL_CODEC_COMPRESSION_THRESHOLD', '1e3', 'a non-negative integer'],
    ['TEMPORAL_CODEC_COMPRESSION_THRESHOLD', '1 KiB', 'a non-negative integer'],
    ['TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES', '99999999999999999999', 'an integer greater than 0'],
    // 0 would refuse every binary/zlib payload: refused where it is set, not later by the codecs.
    ['TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES', '00', 'an integer greater than 0'],
  ])('refuses %s=%s, naming the variable', (variable, text, kind) => {
    const error = configError(() => loadCodecOptions({ env: { [variable]: text } }), `${variable} must be ${kind}`);
    expect(error.message).not.toContain(text);
  });
});

describe('validateCodecOptions', () => {
  it('keeps the known options and drops the rest', () => {
    expect(validateCodecOptions({ enableEncryption: true, hostPort: 'x', compressionThreshold: 0, keysDir: undefined })).toEqual({
      enableEncryption: true,
      compressionThreshold: 0,
    });
  });

  it('refuses options that are not an object, and fields of the wrong type, naming the field', () => {
    configError(() => validateCodecOptions('enableEncryption'), 'options must be an object');
    configError(() => validateCodecOptions([]), 'options must be an object');
    configError(() => validateCodecOptions({ maxDecompressedBytes: Number.MAX_SAFE_INTEGER + 1 }), 'options.maxDecompressedBytes must be an integer greater than 0');
    configError(() => validateCodecOptions({ enableCompression: 'true' }, 'settings'), 'settings.enableCompression must be true or false');
  });
});
