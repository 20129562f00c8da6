import type { Database, Statement } from 'better-sqlite3';

/** A member's flag on a result; one per member and result (a second report updates the reason). */
export interface Report {
  id: number;
  assetId: string;
  reporterUserId: number;
  reason: string | null;
  createdAt: number;
}

interface ReportRow {
  id: number;
  asset_id: string;
  reporter_user_id: number;
  reason: string | null;
  created_at: number;
}

const toReport = (row: ReportRow): Report => ({
  id: row.id,
  assetId: row.asset_id,
  reporterUserId: row.reporter_user_id,
  reason: row.reason,
  createdAt: row.created_at,
});

export class ReportRepository {
  readonly #upsert: Statement<[string, number, string | null, number], ReportRow>;
  readonly #forAsset: Statement<[string], ReportRow>;
  readonly #now: () => number;

  constructor(db: Database, now: () => number) {
    this.#now = now;
    this.#upsert = db.prepare(`
      INSERT INTO reports (asset_id, reporter_user_id, reason, created_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (asset_id, reporter_user_id) DO UPDATE SET reason = coalesce(excluded.reason, reports.reason)
      RETURNING id, asset_id, reporter_user_id, reason, created_at
    `);
    this.#forAsset = db.prepare('SELECT id, asset_id, reporter_user_id, reason, created_at FROM reports WHERE asset_id = ? ORDER BY created_at, id');
  }

  /** Records (or refreshes) one member's report; reports of one result are grouped by asset. */
  report(assetId: string, reporterUserId: number, reason: string | null): Report {
    const row = this.#upsert.get(assetId, reporterUserId, reason, this.#now());
    if (!row) throw new Error('report returned no row');
    return toReport(row);
  }

  forAsset(assetId: string): Report[] {
    return this.#forAsset.all(assetId).map(toReport);
  }
}
