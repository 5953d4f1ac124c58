import { loadConfig } from './config/config';
import { isBotError } from './errors';

/** Time allowed after the drain bound for aborted turns to say "please retry" and for the server to close. */
const HARD_STOP_MARGIN_MS = 5_000;

/** Entry point (`npm start`): configuration → bot → signals. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    // The message names keys and reasons, never values.
    process.stderr.write(`${isBotError(err) ? err.message : 'invalid configuration'}\n`);
    process.exit(1);
  }
  // Telemetry (README "Operating it") before the bot's modules load, so its HTTP instrumentation applies;
  // when it is not configured, the SDK is never loaded.
  const { connectionString, otlpEndpoint } = config.telemetry;
  const telemetry =
    connectionString !== undefined || otlpEndpoint !== undefined
      ? await (await import('./observability/otel-sdk')).startTelemetry(config.telemetry)
      : undefined;
  // Loaded only after the configuration is valid: the bot's modules take seconds to load, and a bad
  // configuration must stop start-up within 2 s (AUTH-08).
  const { startBot } = await import('./app');
  const bot = await startBot(config);
  const drainMs = config.shutdownDrainMs;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    bot.log.info('bot.signal', { signal });
    // SHUT-01: the drain is bounded by SHUTDOWN_DRAIN_MS (then running turns are aborted and tell their users
    // to retry); if closing still hangs (a stuck socket, storage), exit anyway rather than wait for SIGKILL.
    const hardStop = setTimeout(() => {
      bot.log.error('bot.shutdown_timeout', { ms: drainMs + HARD_STOP_MARGIN_MS });
      process.exit(1);
    }, drainMs + HARD_STOP_MARGIN_MS);
    hardStop.unref();
    bot
      .shutdown(drainMs)
      // Flushes buffered spans, metrics and logs; an unreachable collector must not fail the shutdown.
      .then(() => telemetry?.shutdown().catch(() => undefined))
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (reason) => bot.log.error('process.unhandled_rejection', { err: reason }));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `start-up failed: ${isBotError(err) ? `${err.code} ${err.message}` : err instanceof Error ? err.name : 'unknown error'}\n`,
  );
  process.exit(1);
});
