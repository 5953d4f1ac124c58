import { ActivityTypes, type Activity, type TurnContext } from 'botbuilder';
import { userMessageFor } from '../../errors';
import { hashId, type Logger } from '../../observability/logger';
import { tenantConflict, tenantOf } from '../activity-facts';
import { invokeError, sendInvokeResponse } from '../invoke-response';

/**
 * The tenant allow-list, run before every route right after authentication (docs/reliability.md §2.2, AUTH-07):
 * fails closed. An empty list allows every tenant; an activity naming two tenants is always refused.
 */
export interface TenantGate {
  /** The teams-ai `beforeTurn` handler: false stops the turn. */
  beforeTurn(ctx: TurnContext): Promise<boolean>;
  /** Activities refused so far (AUTH-07 metric). */
  readonly rejections: number;
}

export function tenantGate(allowedTenants: readonly string[], log: Logger): TenantGate {
  let rejections = 0;
  const allowed = (activity: Partial<Activity>): boolean => {
    if (tenantConflict(activity)) return false;
    if (allowedTenants.length === 0) return true;
    const tenant = tenantOf(activity);
    return tenant !== undefined && allowedTenants.includes(tenant);
  };
  return {
    get rejections() {
      return rejections;
    },
    async beforeTurn(ctx) {
      if (allowed(ctx.activity)) return true;
      rejections += 1;
      log.warn('tenant.rejected', {
        tenant: hashId(tenantOf(ctx.activity) ?? 'missing'),
        type: ctx.activity.type,
      });
      if (ctx.activity.type === (ActivityTypes.Invoke as string)) {
        await sendInvokeResponse(
          ctx,
          200,
          invokeError(403, 'Forbidden', userMessageFor('TENANT_NOT_ALLOWED')),
        );
      }
      return false;
    },
  };
}
