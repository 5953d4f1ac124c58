import type { Activity } from 'botbuilder';
import type { ConversationInfo, ConversationScope } from '../relay/model';

/*
 * What an inbound activity says about where it comes from: conversation scope, tenant, conversation info.
 * Plain reads of the activity, no SDK calls.
 */

function scopeOf(activity: Partial<Activity>): ConversationScope {
  const t = activity.conversation?.conversationType;
  if (t === 'channel') return 'channel';
  if (t === 'groupChat' || activity.conversation?.isGroup === true) return 'groupChat';
  return 'personal';
}

/**
 * True when the activity names two different tenants (`conversation.tenantId` vs `channelData.tenant.id`).
 * Teams never does that; such an activity is refused whatever the allow-list says (fail closed).
 */
export function tenantConflict(activity: Partial<Activity>): boolean {
  const channelData = activity.channelData as { tenant?: { id?: unknown } } | undefined;
  const a = activity.conversation?.tenantId;
  const b = channelData?.tenant?.id;
  return (
    typeof a === 'string' &&
    typeof b === 'string' &&
    a.length > 0 &&
    b.length > 0 &&
    a.toLowerCase() !== b.toLowerCase()
  );
}

export function tenantOf(activity: Partial<Activity>): string | undefined {
  const channelData = activity.channelData as { tenant?: { id?: unknown } } | undefined;
  const t = activity.conversation?.tenantId ?? channelData?.tenant?.id;
  return typeof t === 'string' && t.length > 0 ? t.toLowerCase() : undefined;
}

export function conversationOf(activity: Partial<Activity>): ConversationInfo {
  return {
    id: activity.conversation?.id ?? '',
    tenantId: tenantOf(activity) ?? '',
    scope: scopeOf(activity),
  };
}
