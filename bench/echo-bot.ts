/**
 * A bare botbuilder echo bot (CloudAdapter on restify, inbound auth off as in development), the baseline the
 * benchmark divides the relay's throughput by: same machine, same run, same fake Bot Connector. It answers
 * each message inside the inbound request with one `sendActivity`. Binds 127.0.0.1 on a free port and prints
 * `echo bot listening on http://…`.
 */
import { CloudAdapter, ConfigurationBotFrameworkAuthentication, type TurnContext } from 'botbuilder';
import * as restify from 'restify';

const adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
const server = restify.createServer();
server.use(restify.plugins.bodyParser());
server.post('/api/messages', async (req, res) => {
  await adapter.process(req as Parameters<CloudAdapter['process']>[0], res, async (ctx: TurnContext) => {
    if (ctx.activity.type === 'message') await ctx.sendActivity(`echo: ${ctx.activity.text ?? ''}`);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`echo bot listening on http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
