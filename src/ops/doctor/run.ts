import type { TokenCredential } from '@azure/identity';
import { configSecrets, loadConfig, type Config } from '../../config/config';
import { isBotError } from '../../errors';
import { FoundryAgentsApi } from '../../foundry/agents-api';
import { createAppCredential } from '../../foundry/credentials';
import { checkAgent } from './agent-check';
import { checkBot } from './bot-check';
import { checkFoundryToken } from './identity-check';
import { checkConsentHosts, checkUserMode } from './policy-checks';
import { fail, pass, skip, type Finding } from './report';
import { checkStorage } from './storage-check';

/**
 * The doctor (issue 13): the "Validate" and "Troubleshooting" steps of the Foundry MCP authentication docs as
 * checks, in order: 1 configuration, 2 Foundry token, 3 agent and its MCP tools, 4 consent-link hosts,
 * 5 storage, 6 bot registration, 7 user mode. Checks that need an earlier one are skipped when it failed.
 */

export interface DoctorDeps {
  /** The environment to read, as the bot does (default: the caller passes process.env). */
  env: Readonly<Record<string, string | undefined>>;
  /** Overrides the configured Foundry credential (tests). */
  credential?: TokenCredential;
  /** Overrides the Bot Framework credential (tests). */
  botCredential?: TokenCredential;
  /** Per network step; default 15 s. */
  timeoutMs?: number;
}

export interface DoctorResult {
  findings: Finding[];
  /** Undefined when the configuration is invalid. */
  config?: Config;
  /** Values to scrub from any output. */
  secrets: string[];
}

/** Check 1: the bot's own loader. */
function checkConfig(env: DoctorDeps['env']): { finding: Finding; config?: Config } {
  try {
    const config = loadConfig(env);
    const storage = config.storage.kind === 'blob' ? `blob container ${config.storage.container}` : 'memory';
    return {
      config,
      finding: pass(
        'config',
        `valid (${config.env}, FOUNDRY_AUTH=${config.foundry.auth}, FOUNDRY_CREDENTIAL=${config.foundry.credential}, agent ${config.foundry.agentName}, ${storage})`,
      ),
    };
  } catch (err) {
    const keys = isBotError(err, 'CONFIG_INVALID')
      ? (err.details['keys'] as string[] | undefined)
      : undefined;
    return {
      finding: fail(
        'config',
        'config.invalid',
        isBotError(err) ? err.message : 'the configuration could not be read',
        `Fix ${keys && keys.length > 0 ? keys.join(', ') : 'the listed settings'} in the App Service configuration (or the env file) as described in README "Configuration".`,
      ),
    };
  }
}

/** Runs every check; never throws for a failing check. */
export async function runDoctor(deps: DoctorDeps): Promise<DoctorResult> {
  const timeoutMs = deps.timeoutMs ?? 15_000;
  const extra = ['IDENTITY_HEADER', 'MSI_SECRET'].map((k) => deps.env[k]).filter((v): v is string => !!v);
  const first = checkConfig(deps.env);
  const config = first.config;
  if (!config)
    return {
      findings: [first.finding, skip('*', 'other checks need a valid configuration')],
      secrets: extra,
    };
  const secrets = [...configSecrets(config), ...extra];
  const findings = [first.finding, ...(await runChecks(config, deps, timeoutMs))];
  return { findings, config, secrets };
}

/** Checks 2–7 for a loaded configuration (the CLI after check 1; the running bot's admin `/status`). */
export async function runChecks(
  config: Config,
  deps: Pick<DoctorDeps, 'credential' | 'botCredential'>,
  timeoutMs: number,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const credential = deps.credential ?? createAppCredential(config.foundry);

  const token = await checkFoundryToken(config, credential, timeoutMs);
  findings.push(token.finding);
  if (token.identity) {
    const api = new FoundryAgentsApi({
      projectEndpoint: config.foundry.projectEndpoint,
      credential,
      timeoutMs,
    });
    findings.push(...(await checkAgent(config, api, token.identity)));
  } else {
    findings.push(skip('agent', 'the agent cannot be read without a Foundry token'));
  }
  findings.push(...checkConsentHosts(config));
  findings.push(await checkStorage(config, credential, timeoutMs));
  findings.push(await checkBot(config, timeoutMs, deps.botCredential));
  findings.push(...checkUserMode(config));
  return findings;
}
