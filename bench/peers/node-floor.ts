/**
 * The floor for a Node codec server: a bare node:http server that does the codec work of `/decode` and `/encode` with
 * this package's library and nothing else. It reads the body, parses it (`parsePayloadsJson`), decrypts and inflates
 * (or compresses and encrypts) each payload with the codecs of `createPayloadCodecs`, and answers 200 with
 * `JSON.stringify` of the result. No routing, limits, authentication, CORS, request ids, logging, metrics or answer
 * batching: what our server adds to the codec work is its own cost, and this peer measures everything else.
 *
 *   node --import tsx bench/peers/node-floor.ts --port 8892
 *
 * The key is `TEMPORAL_ENCRYPTION_KEY_default` (new payloads are encrypted under `default`). It prints one line
 * "listening <port>" and stops on SIGTERM/SIGINT. One process only: the floor is measured per core.
 */
import { createServer } from 'node:http';
import type { Payload } from '@temporalio/common';
import {
  CompressionCodec,
  createPayloadCodecs,
  EncryptionCodec,
  loadKeyRing,
  parsePayloadsJson,
  toPayloadsJson,
} from '../../src/index.js';

const portIndex = process.argv.indexOf('--port');
const port = portIndex === -1 ? 8892 : Number(process.argv[portIndex + 1]);
const keyRing = loadKeyRing({ encryptionKeyID: 'default' });
const [compression, encryption] = createPayloadCodecs({ keyRing, encryptionKeyID: 'default' });
if (!(compression instanceof CompressionCodec) || !(encryption instanceof EncryptionCodec)) {
  throw new Error('createPayloadCodecs no longer returns [CompressionCodec, EncryptionCodec]');
}

const work: Record<string, (payload: Payload) => Payload> = {
  '/decode': (payload) => compression.decompressPayload(encryption.decryptPayload(payload)),
  '/encode': (payload) => encryption.encryptPayload(compression.compressPayload(payload)),
};

const server = createServer((req, res) => {
  const codec = work[req.url ?? ''];
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let text: string;
    try {
      if (!codec) throw new Error('unknown route');
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const payloads = parsePayloadsJson(JSON.parse(body.toString('utf8')), {
        unknownFields: req.url === '/decode' ? 'carry' : 'reject',
      });
      text = JSON.stringify(toPayloadsJson(payloads.map(codec)));
    } catch {
      res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"error":"bad request"}');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  });
});
server.keepAliveTimeout = 5_000;
server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
