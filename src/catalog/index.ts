export * from './catalog.js';
export * from './validate.js';
export {
  openApiUrl,
  parseSnapshot,
  serializeSnapshot,
  snapshotFileName,
  SnapshotError,
  type JsonSchema,
  type SchemaSnapshot,
} from './json-schema.js';
