import { createHash } from 'node:crypto';
import type { Actor, ConversationInfo } from './model';

/**
 * Storage keys. A Foundry thread is per Teams conversation in 1:1 chats, and per (conversation, user) in
 * group chats and channels and whenever Foundry is called as the user, so two people never continue each
 * other's turns (docs/architecture.md "State"). Keys hash the Teams ids: they are long and full of `:;@`.
 */
export function threadKey(conv: ConversationInfo, user: Actor, identityMode: 'app' | 'user'): string {
  const perUser = conv.scope !== 'personal' || identityMode === 'user';
  const base = `${conv.tenantId}|${conv.id}`;
  return `thread/${digest(perUser ? `${base}|${user.aadObjectId ?? user.id}` : base)}`;
}

export function dedupeKey(conversationId: string, activityId: string): string {
  return `dedupe/${digest(`${conversationId}|${activityId}`)}`;
}

/** One welcome per conversation: install events are re-sent often. */
export function welcomeKey(conversationId: string): string {
  return `welcome/${digest(conversationId)}`;
}

export function approvalKey(batchId: string): string {
  return `approval/${batchId}`;
}

export function consentKey(consentId: string): string {
  return `consent/${consentId}`;
}

function digest(s: string): string {
  return createHash('sha256').update(s).digest('base64url').slice(0, 32);
}
