/**
 * Schema versions, applied in order inside one transaction each. Resources are JSON documents; the model
 * declares which secondary keys each one holds, and `index_keys` enforces the unique ones.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE resources (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
  ) WITHOUT ROWID;

  CREATE TABLE index_keys (
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    uniq INTEGER NOT NULL,
    PRIMARY KEY (key, kind, id)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX index_keys_unique ON index_keys (key) WHERE uniq = 1;
  CREATE INDEX index_keys_owner ON index_keys (kind, id);

  CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    op TEXT NOT NULL,
    at TEXT NOT NULL
  );
  `,
  // 2: API tokens (hashed), and the project index key every resource now holds (model: projectKey). Index keys
  // are derived data, so existing rows get theirs here, in the same form the model writes.
  `
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    project_id TEXT NOT NULL,
    is_admin INTEGER NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT
  ) WITHOUT ROWID;

  INSERT OR IGNORE INTO index_keys (key, kind, id, uniq)
    SELECT 'project/' || json_extract(body, '$.projectId'), kind, id, 0 FROM resources;
  `,
  // 3: the MAC index key every port now holds (model: macKey), so a new MAC is checked against existing ports.
  // Not unique: databases from before may hold repeated MACs (they came from a timestamp).
  `
  INSERT OR IGNORE INTO index_keys (key, kind, id, uniq)
    SELECT 'mac/' || json_extract(body, '$.networkId') || '/' || json_extract(body, '$.macAddress'), kind, id, 0
    FROM resources WHERE kind = 'port';
  `,
  // 4: the quota usage key every counted resource now holds (model: quotaUsageKey), so usage is one count.
  `
  INSERT OR IGNORE INTO index_keys (key, kind, id, uniq)
    SELECT 'quota/' || kind || '/' || json_extract(body, '$.projectId'), kind, id, 0
    FROM resources WHERE kind IN ('floatingip', 'network', 'port', 'router', 'subnet');
  `,
  // 5: status-only changes (Store.updateStatuses) are marked, so that the agent skips them unread.
  `
  ALTER TABLE changes ADD COLUMN status_only INTEGER NOT NULL DEFAULT 0;
  `,
  // 6: whether a change can alter what the structure memo keeps (structure-memo.ts): a port's write is structural
  // only when the port is a router's (owner network:*) before or after it. Rows from before may be either: 1.
  `
  ALTER TABLE changes ADD COLUMN structural INTEGER NOT NULL DEFAULT 1;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
