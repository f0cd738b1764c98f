import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeyRing } from '../../src/keys/key-ring.js';
import { createServerCodecs } from '../../src/server/codecs.js';

describe('createServerCodecs keyLabel', () => {
  const ring = (fallback: boolean) =>
    KeyRing.fromKeys({ active: randomBytes(32), PROD_EU: randomBytes(32), PRODUCTION: randomBytes(32) }, 'active', fallback ? randomBytes(32) : undefined);

  it('labels an id with the key that serves it, as `temporal-codec keys` lists that key', () => {
    const { keyLabel } = createServerCodecs({ keyRing: ring(true) });
    expect(keyLabel('active')).toBe('active');
    expect(keyLabel('prod-eu')).toBe('PROD_EU'); // the environment-safe alias
    // `production` has no character a variable cannot hold, so PRODUCTION does not serve it: the fallback does.
    expect(keyLabel('production')).toBe('*');
    expect(keyLabel('anything-else')).toBe('*');
  });

  it('labels an id no key serves as * too, so labels stay bounded', () => {
    const { keyLabel } = createServerCodecs({ keyRing: ring(false) });
    expect(keyLabel('production')).toBe('*');
    expect(keyLabel('prod-eu')).toBe('PROD_EU');
  });
});
