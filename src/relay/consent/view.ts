import { userMessageFor } from '../../errors';
import type { RelaySettings } from '../api';
import type { Actor, ConsentRecord } from '../model';
import { TEXT } from '../texts';
import type { ConsentCardView } from '../views';

/**
 * Pure policy and view model of sign-in (consent) cards: who may complete a sign-in, what its status is, and
 * what the card shows to whom. A shared sign-in (app mode) binds the bot's identity for everyone, so only
 * the configured admins may complete it; an individual one only its requester.
 */

type Policy = Pick<RelaySettings, 'identityMode' | 'sharedConsentAdmins'>;

function isAdmin(user: Actor | undefined, admins: readonly string[]): boolean {
  const id = user?.aadObjectId?.toLowerCase();
  return id !== undefined && admins.includes(id);
}

export function mayCompleteConsent(
  record: ConsentRecord,
  viewer: Actor | undefined,
  admins: readonly string[],
): boolean {
  if (!viewer?.aadObjectId) return false;
  if (record.shared) return isAdmin(viewer, admins);
  return viewer.aadObjectId.toLowerCase() === record.requester.aadObjectId?.toLowerCase();
}

function consentStatus(record: ConsentRecord): ConsentCardView['status'] {
  switch (record.state) {
    case 'pending':
      return record.prompts > 1 ? 'retry' : 'pending';
    case 'continuing':
    case 'done':
      return 'signed_in';
    case 'declined':
    case 'failed':
    case 'cancelled':
    case 'expired':
      return record.state;
  }
}

/** The consent card for `viewer` (undefined: the public view posted in the conversation). */
export function consentView(
  record: ConsentRecord,
  viewer: Actor | undefined,
  policy: Policy,
  status: ConsentCardView['status'] = consentStatus(record),
): ConsentCardView {
  const admins = policy.sharedConsentAdmins;
  const personal = record.conversation.scope === 'personal';
  const mayAct = mayCompleteConsent(record, viewer ?? (personal ? record.requester : undefined), admins);
  const services = record.services.map((s) => ({
    label: s.serverLabel ?? 'this tool',
    ...(s.host ? { host: s.host } : {}),
    ...(mayAct && s.link ? { link: s.link } : {}),
  }));
  const actionableUserIds =
    policy.identityMode === 'app'
      ? isAdmin(record.requester, admins)
        ? [record.requester.id]
        : []
      : [record.requester.id];
  let notice: string | undefined;
  if (!mayAct) {
    if (!record.shared)
      notice = TEXT.needsSignIn(record.requester.name, services.map((l) => l.label).join(', '));
    else if (!isAdmin(viewer ?? record.requester, admins)) notice = userMessageFor('CONSENT_FORBIDDEN');
  }
  return {
    kind: 'consent',
    consentId: record.consentId,
    requester: record.requester,
    services,
    shared: record.shared,
    status,
    actionable: mayAct && (status === 'pending' || status === 'retry'),
    actionableUserIds,
    ...(notice ? { notice } : {}),
    ...(record.shared && admins.length === 0 ? { adminHint: TEXT.noAdmin } : {}),
  };
}
