import type { Versioned } from '../storage/store';
import type { TurnInfo } from './api';
import type { RelayContext } from './context';
import type { ConversationInfo } from './model';

/**
 * Approval and consent records stay this long after `expiresAt` (so late clicks still get "expired" /
 * "already decided"), then the next read deletes them (lazy expiry; no scan on the hot path).
 */
const RECORD_RETENTION_MS = 60 * 60_000;

/**
 * Reads an approval or consent record; one more than RECORD_RETENTION_MS past its `expiresAt` is deleted
 * (compare-and-set on its eTag) and reads as absent. Records never read again are left to the storage
 * lifecycle rule (docs/storage.md).
 */
export async function readRecord<T extends { expiresAt: number }>(
  ctx: RelayContext,
  key: string,
): Promise<Versioned<T> | undefined> {
  const rec = await ctx.store.get<T>(key);
  if (!rec || ctx.clock() <= rec.value.expiresAt + RECORD_RETENTION_MS) return rec;
  await ctx.store.delete(key, { ifMatch: rec.etag });
  ctx.log.info('record.expired_deleted', { kind: key.slice(0, key.indexOf('/')) });
  return undefined;
}

/** A click may act on a record only from the record's own conversation (same tenant, same conversation id). */
export function sameConversation(record: { conversation: ConversationInfo }, turn: TurnInfo): boolean {
  return (
    record.conversation.id === turn.conversation.id &&
    record.conversation.tenantId.toLowerCase() === turn.conversation.tenantId.toLowerCase()
  );
}
