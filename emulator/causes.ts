import { z } from 'zod';
import type { TurnPlan } from './agent';
import type { Exchange } from './exchange';
import { parseJson, readBody } from './http';
import type { Caller, TokenAuthority, VerifyResult } from './identity';
import type { McpCallError } from './wire';

/**
 * Operational causes on demand, for `npm run doctor` and its tests (issue 13): the rows of the Foundry MCP
 * authentication troubleshooting table, produced by the emulator so that each doctor / validate finding can be
 * tested against the cause it names. Set with `POST /__emulator/causes` (cleared by `/__emulator/reset`):
 *
 * - `missingRole`: callers (oid) without Azure AI User on the project → every Foundry route (Responses and
 *   Agents API) answers 403 `PermissionDenied` (foundry-wire.md §7.2 "missing RBAC role");
 * - `crossTenant`: callers answered 403 `forbidden` as for a token of another tenant (§1.3);
 * - `rejectedTokens`: callers answered 401 `unauthorized` (a token Foundry does not accept);
 * - `toolFailures`: MCP tool calls that fail as the MCP server would answer them (§4.5, §7.2 "MCP server auth
 *   failure after consent"): `no_access` (403, the user lacks access to the underlying service),
 *   `entra_forbidden` (403, the agent or project identity lacks a role on the service), `key_rejected` (401, the
 *   connection's key is wrong or expired), `bad_header` (401, wrong header name or format), `token_expired`
 *   (401 "Invalid token", the provider token stopped refreshing; new-foundry-portal#134). `afterCalls` lets the
 *   first N calls succeed (default 0), `oid` limits it to one caller.
 */

const ToolFailure = z
  .object({
    server_label: z.string().min(1),
    oid: z.string().min(1).optional(),
    kind: z.enum(['no_access', 'entra_forbidden', 'key_rejected', 'bad_header', 'token_expired']),
    afterCalls: z.number().int().nonnegative().default(0),
  })
  .strict();

export const CausesSchema = z
  .object({
    missingRole: z.array(z.string().min(1)).default([]),
    crossTenant: z.array(z.string().min(1)).default([]),
    rejectedTokens: z.array(z.string().min(1)).default([]),
    toolFailures: z.array(ToolFailure).default([]),
  })
  .strict();

export type Causes = z.infer<typeof CausesSchema>;
export type CausesInput = z.input<typeof CausesSchema>;

const ERRORS: Record<z.infer<typeof ToolFailure>['kind'], { code: number; message: string }> = {
  no_access: { code: 403, message: 'Forbidden: the user has no access to this resource.' },
  entra_forbidden: { code: 403, message: 'AuthorizationFailed: the caller has no role assignment.' },
  key_rejected: { code: 401, message: 'Unauthorized: invalid API key.' },
  bad_header: { code: 401, message: 'Unauthorized: missing or malformed credentials header.' },
  token_expired: { code: 401, message: 'Invalid token.' },
};

export class CausesControl {
  private causes: Causes = CausesSchema.parse({});
  /** Successful calls per `oid|server_label`, for `afterCalls`. */
  private readonly calls = new Map<string, number>();

  reset(): void {
    this.causes = CausesSchema.parse({});
    this.calls.clear();
  }

  /** `POST /__emulator/causes` (replace) and `GET /__emulator/causes`. */
  async route(x: Exchange): Promise<void> {
    if (x.req.method === 'GET') return x.json(200, { causes: this.causes });
    const p = parseJson(await readBody(x.req));
    const c = CausesSchema.safeParse(p.ok ? p.value : undefined);
    if (!c.success)
      return x.json(400, {
        ok: false,
        error: c.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      });
    this.causes = c.data;
    this.calls.clear();
    return x.json(200, { ok: true, causes: this.causes });
  }

  /** The authority the Foundry routes use: the real checks first, then the role and tenant causes. */
  guard(authority: TokenAuthority): TokenAuthority {
    const guarded = Object.create(authority) as TokenAuthority;
    guarded.verifyBearer = (authorization: string | undefined): VerifyResult => {
      const r = authority.verifyBearer(authorization);
      if (!r.ok) return r;
      const oid = r.caller.oid;
      if (this.causes.rejectedTokens.includes(oid))
        return { ok: false, status: 401, code: 'unauthorized', message: 'Invalid token (emulated cause).' };
      if (this.causes.crossTenant.includes(oid))
        return {
          ok: false,
          status: 403,
          code: 'forbidden',
          message:
            "The caller's tenant does not match the project's tenant. Cross-tenant access isn't supported.",
        };
      if (this.causes.missingRole.includes(oid)) {
        // Foundry's code for a missing data action; VerifyResult only names the emulator's own two codes.
        const denied = {
          ok: false,
          status: 403,
          code: 'PermissionDenied',
          message: `The principal '${oid}' lacks the required data action on the project (role Azure AI User).`,
        };
        return denied as unknown as VerifyResult;
      }
      return r;
    };
    return guarded;
  }

  /** Rewrites the planned `mcp_call` items of a turn that a tool failure applies to. */
  applyToPlan(plan: TurnPlan, caller: Caller): void {
    for (const p of plan.items) {
      if (p.kind !== 'mcp_call' || p.item.status !== 'completed') continue;
      const label = p.item.server_label;
      const f = this.causes.toolFailures.find(
        (t) => t.server_label === label && (t.oid === undefined || t.oid === caller.oid),
      );
      const key = `${caller.oid}|${label}`;
      const done = this.calls.get(key) ?? 0;
      if (!f || done < f.afterCalls) {
        this.calls.set(key, done + 1);
        continue;
      }
      const e = ERRORS[f.kind];
      const error: McpCallError = { type: 'http_error', code: e.code, message: e.message };
      p.item.status = 'failed';
      p.item.output = null;
      p.item.error = error;
    }
  }
}
