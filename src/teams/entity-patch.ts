/**
 * botframework-connector 4.23.3 serialises only `type`, `text` and `mentioned` of an activity's entities,
 * so Teams never sees the streaming fields (`streamId`, `streamType`, `streamSequence`), the AI label
 * (`additionalType`) or citations (docs/playground-notes.md §5: "botbuilder drops the streaminfo fields"). Declaring
 * additional properties on the Entity mapper makes the serializer keep them. Idempotent; edge-only, since
 * botbuilder is past end of support and will not be fixed upstream.
 */
let patched = false;

export function preserveEntityFields(): void {
  if (patched) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mappers = require('botframework-connector/lib/connectorApi/models/mappers') as {
    Entity: { type: { additionalProperties?: unknown } };
  };
  mappers.Entity.type.additionalProperties = { type: { name: 'Object' } };
  patched = true;
}
