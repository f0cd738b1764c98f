import { describe, expect, it } from 'vitest';
import { grantsFromPermissions } from '../../src/server/auth/permissions.js';

describe("the permissions claim, in Temporal's format", () => {
  it('maps roles to rights: read decodes, write and admin also encode, worker neither', () => {
    const grants = grantsFromPermissions(['prod:read', 'staging:WRITE', 'ops:admin', 'jobs:worker']);
    expect([grants.allows('prod', 'decode'), grants.allows('prod', 'encode')]).toEqual([true, false]);
    expect([grants.allows('staging', 'decode'), grants.allows('staging', 'encode')]).toEqual([true, true]);
    expect([grants.allows('ops', 'decode'), grants.allows('ops', 'encode')]).toEqual([true, true]);
    expect([grants.allows('jobs', 'decode'), grants.allows('jobs', 'encode')]).toEqual([false, false]);
    expect(grants.allows('other', 'decode')).toBe(false);
  });

  it('gives system and temporal-system roles in every namespace, and reads a space-separated string as a list', () => {
    expect(grantsFromPermissions(['system:admin']).allows('anything', 'encode')).toBe(true);
    expect(grantsFromPermissions('temporal-system:read prod:write').allows('anything', 'decode')).toBe(true);
    expect(grantsFromPermissions('temporal-system:read prod:write').allows('anything', 'encode')).toBe(false);
  });

  it('skips malformed entries and unknown roles, including names of Object properties, without throwing', () => {
    const claim = ['prod', ':read', 'a:b:c', 'prod:owner', 'prod:constructor', 'prod:__proto__', 'prod:toString', 42, null];
    const grants = grantsFromPermissions(claim);
    for (const namespace of ['prod', '', 'a']) expect(grants.allows(namespace, 'decode')).toBe(false);
    // The one good entry after them still counts.
    expect(grantsFromPermissions([...claim, 'prod:read']).allows('prod', 'decode')).toBe(true);
    expect(grantsFromPermissions({ not: 'a list' }).allows('prod', 'decode')).toBe(false);
  });
});
