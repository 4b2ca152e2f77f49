import { PulseError } from '@pulse/protocol';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Dialect } from '../migrations.ts';
import { isUniqueViolation } from '../errors.ts';
import type { Database } from '../schema.ts';
import type { AdminRepo, AdminRow, AdminSessionRepo, AuditEntry, AuditRepo, LoginThrottleRepo } from '../types.ts';

const toAdmin = (r: Selectable<Database['admins']>): AdminRow => ({
  id: r.id,
  email: r.email,
  name: r.name,
  role: r.role,
  passwordHash: r.password_hash,
  createdAt: r.created_at,
});

const toAudit = (r: Selectable<Database['audit_log']>): AuditEntry => ({
  id: r.id,
  environmentId: r.environment_id,
  actorId: r.actor_id,
  actorName: r.actor_name,
  actorEmail: r.actor_email,
  action: r.action,
  detail: r.detail,
  createdAt: r.created_at,
});

/**
 * Team changes made by `by` run one at a time (on PostgreSQL, across nodes: the lock; SQLite has
 * one writer), each after checking that `by` is still an Admin.
 */
async function stillAdmin(trx: Transaction<Database>, dialect: Dialect, by: string): Promise<void> {
  if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext('pulse:team'))`.execute(trx);
  const actor = await trx.selectFrom('admins').select('role').where('id', '=', by).executeTakeFirst();
  if (actor?.role !== 'admin') throw new PulseError('forbidden', 'Your account is no longer an Admin: another Admin changed it.');
}

/** Admin accounts, their sessions, the login throttle and the audit log. */
export function adminRepo(db: Kysely<Database>, dialect: Dialect): AdminRepo & AdminSessionRepo & LoginThrottleRepo & AuditRepo {
  return {
    async createAdmin(admin) {
      try {
        await db
          .insertInto('admins')
          .values({
            id: admin.id,
            email: admin.email,
            name: admin.name,
            role: admin.role,
            password_hash: admin.passwordHash,
            created_at: admin.createdAt,
          })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new PulseError('already_exists', `An account with email ${admin.email} already exists.`);
        throw err;
      }
    },

    async findAdminByEmail(email) {
      const r = await db.selectFrom('admins').selectAll().where('email', '=', email).executeTakeFirst();
      return r && toAdmin(r);
    },

    async getAdmin(id) {
      const r = await db.selectFrom('admins').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toAdmin(r);
    },

    async listAdmins() {
      const rows = await db.selectFrom('admins').selectAll().orderBy('created_at').orderBy('id').execute();
      return rows.map(toAdmin);
    },

    async createFirstAdmin(admin) {
      return db.transaction().execute(async (trx) => {
        // PostgreSQL: two transactions would each see no account and each insert one. The lock
        // makes the second wait for the first to commit; its insert then sees that account.
        // (SQLite runs one write at a time.)
        if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext('pulse:first-admin'))`.execute(trx);
        const inserted = await sql`
          insert into admins (id, email, name, role, password_hash, created_at)
          select ${admin.id}, ${admin.email}, ${admin.name}, ${admin.role}, ${admin.passwordHash}, ${admin.createdAt}
          where not exists (select 1 from admins)`.execute(trx);
        return Number(inserted.numAffectedRows ?? 0) > 0;
      });
    },

    async countAdmins() {
      const r = await db.selectFrom('admins').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return Number(r.n);
    },

    async updateAdminRole(id, role, by) {
      return db.transaction().execute(async (trx) => {
        if (by) await stillAdmin(trx, dialect, by);
        const r = await trx.updateTable('admins').set({ role }).where('id', '=', id).returningAll().executeTakeFirst();
        return r && toAdmin(r);
      });
    },

    async deleteAdmin(id, by) {
      return db.transaction().execute(async (trx) => {
        if (by) await stillAdmin(trx, dialect, by);
        await trx.deleteFrom('admin_sessions').where('admin_id', '=', id).execute();
        const r = await trx.deleteFrom('admins').where('id', '=', id).returning('id').executeTakeFirst();
        return r !== undefined;
      });
    },

    async createAdminSession(session) {
      await db
        .insertInto('admin_sessions')
        .values({
          id: session.id,
          admin_id: session.adminId,
          csrf_token: session.csrfToken,
          created_at: session.createdAt,
          expires_at: session.expiresAt,
        })
        .execute();
    },

    async findAdminSession(id, now) {
      const r = await db
        .selectFrom('admin_sessions as s')
        .innerJoin('admins as a', 'a.id', 's.admin_id')
        .select([
          's.id as session_id',
          's.csrf_token',
          's.created_at as session_created_at',
          's.expires_at',
          'a.id',
          'a.email',
          'a.name',
          'a.role',
          'a.password_hash',
          'a.created_at',
        ])
        .where('s.id', '=', id)
        .where('s.expires_at', '>', now)
        .executeTakeFirst();
      if (!r) return undefined;
      return {
        session: { id: r.session_id, adminId: r.id, csrfToken: r.csrf_token, createdAt: r.session_created_at, expiresAt: r.expires_at },
        admin: toAdmin(r),
      };
    },

    async deleteAdminSession(id) {
      await db.deleteFrom('admin_sessions').where('id', '=', id).execute();
    },

    async deleteExpiredAdminSessions(now) {
      const rows = await db.deleteFrom('admin_sessions').where('expires_at', '<=', now).returning('id').execute();
      return rows.length;
    },

    async recordLoginFailure(key, at) {
      await db.insertInto('login_failures').values({ key, created_at: at }).execute();
    },

    async loginFailures(key, since) {
      const r = await db
        .selectFrom('login_failures')
        .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('created_at').as('oldest')])
        .where('key', '=', key)
        .where('created_at', '>=', since)
        .executeTakeFirstOrThrow();
      return { count: Number(r.n), oldest: (r.oldest as string | null) ?? null };
    },

    async clearLoginFailures(key) {
      await db.deleteFrom('login_failures').where('key', '=', key).execute();
    },

    async pruneLoginFailures(before) {
      await db.deleteFrom('login_failures').where('created_at', '<', before).execute();
    },

    async appendAudit(entry) {
      await db
        .insertInto('audit_log')
        .values({
          id: entry.id,
          environment_id: entry.environmentId,
          actor_id: entry.actorId,
          actor_name: entry.actorName,
          actor_email: entry.actorEmail,
          action: entry.action,
          detail: entry.detail,
          created_at: entry.createdAt,
        })
        .execute();
    },

    async listAudit(envId, page) {
      const scoped = () =>
        envId === null
          ? db.selectFrom('audit_log').where('environment_id', 'is', null)
          : db.selectFrom('audit_log').where('environment_id', '=', envId);
      const [rows, total] = await Promise.all([
        scoped().selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
        scoped()
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow(),
      ]);
      return { items: rows.map(toAudit), total: Number(total.n) };
    },
  };
}
