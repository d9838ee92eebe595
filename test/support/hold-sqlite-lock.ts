/**
 * Holds a lock on a SQLite database until its stdin closes, the way another process (a second daemon, a backup
 * tool, an operator's sqlite3 shell) would: `exclusive` keeps everyone out, `write` keeps other writers out.
 */
import Database from 'better-sqlite3';

const [path, mode] = process.argv.slice(2) as [string, 'exclusive' | 'write'];
const db = new Database(path);
if (mode === 'exclusive') {
  db.pragma('locking_mode = EXCLUSIVE');
  db.exec('BEGIN EXCLUSIVE');
} else db.exec('BEGIN IMMEDIATE');
console.log('locked');
process.stdin.resume();
process.stdin.on('end', () => {
  db.exec('ROLLBACK');
  db.close();
  process.exit(0);
});
