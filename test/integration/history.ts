/**
 * Reading a workflow's history as Temporal stores it (no codec anywhere on the way) and finding every payload in it.
 */
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

/** One payload found in a history document, with where it was found. */
export interface FoundPayload {
  /** JSON path, e.g. `events[0].workflowExecutionStartedEventAttributes.input.payloads[0]`. */
  path: string;
  metadata: Record<string, string>;
  data: string | undefined;
}

/**
 * The history through the raw gRPC service (`client.workflowService` applies no data converter), every page, as
 * proto3 JSON (bytes in base64), exactly what the server stores.
 */
export async function fetchRawHistory(client: Client, workflowId: string, runId?: string): Promise<RawHistory> {
  const events: unknown[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const response = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId, ...(runId ? { runId } : {}) },
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    type HistoryMessage = temporal.api.history.v1.IHistory & { toJSON(): { events?: unknown[] } };
    const history = response.history as HistoryMessage | null;
    events.push(...(history?.toJSON().events ?? []));
    nextPageToken = response.nextPageToken && response.nextPageToken.length > 0 ? response.nextPageToken : undefined;
  } while (nextPageToken);
  const json = { events };
  return { json, text: JSON.stringify(json), payloads: findPayloads(json) };
}

export interface RawHistory {
  json: { events: unknown[] };
  text: string;
  payloads: FoundPayload[];
}

/** Every object that has `metadata.encoding`: the generic shape of a Payload in proto3 JSON. */
export function findPayloads(value: unknown, path = ''): FoundPayload[] {
  const found: FoundPayload[] = [];
  const visit = (node: unknown, at: string): void => {
    if (Array.isArray(node)) {
      node.forEach((item, index) => visit(item, `${at}[${index}]`));
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    const metadata = record.metadata;
    if (metadata && typeof metadata === 'object' && 'encoding' in (metadata as object)) {
      found.push({
        path: at,
        metadata: metadata as Record<string, string>,
        data: typeof record.data === 'string' ? record.data : undefined,
      });
      return;
    }
    for (const [key, child] of Object.entries(record)) visit(child, at ? `${at}.${key}` : key);
  };
  visit(value, path);
  return found;
}

/** A search attribute's payloads are indexed by the server and are never encoded by a codec. */
export function isSearchAttribute(found: FoundPayload): boolean {
  return /(^|\.)searchAttributes\.indexedFields\./.test(found.path);
}

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
export const fromB64 = (text: string | undefined): Buffer => Buffer.from(text ?? '', 'base64');

/** A proto3 JSON payload as the SDK's Payload (bytes). */
export function toPayload(found: { metadata: Record<string, string>; data?: string | undefined }): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [key, value] of Object.entries(found.metadata)) metadata[key] = fromB64(value);
  return { metadata, data: fromB64(found.data) };
}

export function metadataText(payload: Payload, key: string): string | undefined {
  const value = payload.metadata?.[key];
  return value ? Buffer.from(value).toString('utf8') : undefined;
}

/** The events of a history document, each with its type name. */
export function eventsOfType(json: { events: unknown[] }, type: string): Record<string, unknown>[] {
  return (json.events as Record<string, unknown>[]).filter((event) => event.eventType === type);
}

/** Where `needle` occurs in a history, as text, or as bytes inside any payload's data or metadata. */
export function findSecret(history: Pick<RawHistory, 'text' | 'payloads'>, needle: string): string[] {
  const hits: string[] = [];
  if (history.text.includes(needle)) hits.push('history text');
  for (const found of history.payloads) {
    if (fromB64(found.data).includes(needle)) hits.push(`${found.path}.data`);
    for (const [key, value] of Object.entries(found.metadata)) {
      if (fromB64(value).includes(needle)) hits.push(`${found.path}.metadata.${key}`);
    }
  }
  return hits;
}
