/**
 * Deterministic benchmark inputs shaped like what Temporal workers send: JSON documents of orders, repetitive log
 * text, and random bytes (already-encrypted or already-compressed data). Seeded, so every run measures the same bytes.
 */
import type { Payload } from '@temporalio/common';

/** A small seeded PRNG (mulberry32): fast, and good enough to make data look unpatterned. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `size` pseudo-random bytes: incompressible, like ciphertext or media. */
export function randomData(size: number, seed = 1): Uint8Array {
  const random = seededRandom(seed);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 4) {
    const word = Math.floor(random() * 4294967296);
    for (let j = 0; j < 4 && i + j < size; j++) out[i + j] = (word >>> (j * 8)) & 0xff;
  }
  return out;
}

const STATUSES = ['pending', 'paid', 'picking', 'shipped', 'delivered', 'refunded'];
const PRODUCTS = [
  'Stainless steel water bottle 750ml',
  'Organic cotton t-shirt, navy, size M',
  'Wireless ergonomic mouse',
  'USB-C charging cable 2m',
  'Ceramic pour-over coffee dripper',
  'Trail running shoes, size 42',
  'Noise-cancelling headphones',
  'Paperback notebook A5 dotted',
  'LED desk lamp with dimmer',
  'Bamboo cutting board large',
];
const FIRST = ['Ana', 'Ben', 'Chloe', 'Dmitri', 'Elif', 'Farah', 'Goran', 'Hana', 'Ivo', 'Jun', 'Kai', 'Lena'];
const LAST = ['Silva', 'Okafor', 'Nguyen', 'Müller', 'Kowalski', 'Haddad', 'Tanaka', 'Larsen', 'Rossi', 'Patel'];
const STREETS = ['Harbour Road', 'Elm Street', 'Rue de la Paix', 'Hauptstraße', 'Calle Mayor', 'Station Lane'];
const CITIES = [
  ['Lisbon', 'PT'],
  ['Lagos', 'NG'],
  ['Hanoi', 'VN'],
  ['Berlin', 'DE'],
  ['Kraków', 'PL'],
  ['Osaka', 'JP'],
  ['Aarhus', 'DK'],
] as const;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!;
}

function token(random: () => number, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += ALPHABET[Math.floor(random() * 32)];
  return text;
}

function uuid(random: () => number): string {
  const hex = () => Math.floor(random() * 16).toString(16);
  const group = (n: number) => Array.from({ length: n }, hex).join('');
  return `${group(8)}-${group(4)}-4${group(3)}-a${group(3)}-${group(12)}`;
}

function order(random: () => number, index: number): unknown {
  const items = Array.from({ length: 1 + Math.floor(random() * 4) }, () => ({
    sku: `SKU-${String(Math.floor(random() * 100000)).padStart(5, '0')}`,
    name: pick(random, PRODUCTS),
    quantity: 1 + Math.floor(random() * 5),
    unitPrice: Math.round(random() * 20000) / 100,
  }));
  const [city, country] = pick(random, CITIES);
  return {
    orderId: `ord_${token(random, 16)}`,
    sequence: index,
    customerId: uuid(random),
    createdAt: new Date(1_714_000_000_000 + Math.floor(random() * 3e10)).toISOString(),
    status: pick(random, STATUSES),
    currency: random() < 0.7 ? 'EUR' : 'USD',
    items,
    total: Math.round(items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0) * 100) / 100,
    shipping: {
      name: `${pick(random, FIRST)} ${pick(random, LAST)}`,
      street: `${1 + Math.floor(random() * 300)} ${pick(random, STREETS)}`,
      city,
      postalCode: String(10000 + Math.floor(random() * 89999)),
      country,
    },
    giftWrap: random() < 0.1,
  };
}

/**
 * UTF-8 JSON of a document of orders, exactly `size` bytes long: `{"orders":[...],"note":"..."}`, with the note
 * padding the last few bytes.
 */
export function ordersJson(size: number, seed = 7): Uint8Array {
  const random = seededRandom(seed);
  const encoder = new TextEncoder();
  const frame = (orders: string, note: string) => `{"orders":[${orders}],"note":"${note}"}`;
  const parts: string[] = [];
  let length = encoder.encode(frame('', '')).length;
  for (let i = 0; ; i++) {
    const next = JSON.stringify(order(random, i));
    const added = encoder.encode(next).length + (parts.length > 0 ? 1 : 0);
    if (length + added > size) break;
    parts.push(next);
    length += added;
  }
  const text = frame(parts.join(','), noteText(random, Math.max(0, size - length)));
  const bytes = encoder.encode(text);
  if (bytes.length < size) throw new Error(`ordersJson: ${size} bytes is too small for the frame`);
  return bytes;
}

const NOTE_WORDS = (
  'please leave at the door call before delivery gift for mum fragile side entrance no plastic thanks ring twice ' +
  'office hours only reception parcel'
).split(' ');

/** Free text of exactly `length` ASCII bytes, like a customer's delivery note. */
function noteText(random: () => number, length: number): string {
  let text = '';
  while (text.length < length) text += `${pick(random, NOTE_WORDS)} `;
  return text.slice(0, length);
}

const LEVELS = ['INFO', 'INFO', 'INFO', 'INFO', 'DEBUG', 'DEBUG', 'WARN', 'ERROR'];
const MESSAGES = [
  'activity completed',
  'activity started',
  'heartbeat recorded',
  'retrying after transient failure',
  'workflow task completed',
  'signal received',
];
const ACTIVITIES = ['chargeCard', 'reserveInventory', 'sendConfirmationEmail', 'createShipment', 'refundPayment'];

/** About `size` bytes of structured log lines (cut to exactly `size`), as a workflow might carry in a payload. */
export function logText(size: number, seed = 11): Uint8Array {
  const random = seededRandom(seed);
  const lines: string[] = [];
  let length = 0;
  let time = 1_714_000_000_000;
  while (length < size) {
    time += Math.floor(random() * 2000);
    const line =
      `${new Date(time).toISOString()} ${pick(random, LEVELS)} [worker-${Math.floor(random() * 4)}] ` +
      `${pick(random, MESSAGES)} activity=${pick(random, ACTIVITIES)} ` +
      `workflowId=order-${100000 + Math.floor(random() * 900)} ` +
      `runId=${uuid(random)} attempt=${1 + Math.floor(random() * 3)} durationMs=${Math.floor(random() * 900)}\n`;
    lines.push(line);
    length += line.length;
  }
  return new TextEncoder().encode(lines.join('')).subarray(0, size);
}

/** A Payload as the default data converter makes it: `json/plain` for JSON, `binary/plain` for bytes. */
export function makePayload(data: Uint8Array, encoding: 'json/plain' | 'binary/plain'): Payload {
  return { metadata: { encoding: new TextEncoder().encode(encoding) }, data };
}
