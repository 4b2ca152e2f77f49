import { randomBytes } from 'node:crypto';
import type { ExpressionBuilder, Kysely, WhereInterface } from 'kysely';
import type { Database } from '../schema.ts';
import { EMAIL_ITEMS_PER_BATCH, UNREAD_MAX_AGE_MS, type EmailBatch, type EmailRepo } from '../email-types.ts';

const newBatchId = () => `mail_${randomBytes(10).toString('hex')}`;
const minus = (iso: string, ms: number) => new Date(Date.parse(iso) - ms).toISOString();

/**
 * Only a batch still held under this lease. Leases only grow (a batch is claimed again only after
 * its lease ran out, until later than that), so a node that lost the batch holds a stale value.
 */
function held<Q extends WhereInterface<Database, 'email_sends'>>(q: Q, leaseUntil: string): Q {
  return q.where('status', '=', 'sending').where('claimed_until', '=', leaseUntil) as Q;
}

export function emailRepo(db: Kysely<Database>): EmailRepo {
  return {
    async claimEmailBatches(now, leaseUntil, delays, limit) {
      // Retries that are due, and batches whose node died mid-send (lease over): whole batches,
      // a batch being finished as a whole. Claimed by a conditional update: of two nodes
      // claiming the same batch, the second finds its rows no longer due.
      const stale = (eb: ExpressionBuilder<Database, 'email_sends'>) =>
        eb.or([
          eb.and([eb('status', '=', 'retry'), eb('next_attempt_at', '<=', now)]),
          eb.and([eb('status', '=', 'sending'), eb('claimed_until', '<', now)]),
        ]);
      const dueIds = (await db.selectFrom('email_sends').select('batch_id').where(stale).groupBy('batch_id').orderBy('batch_id').limit(limit).execute()).map((r) => r.batch_id);
      const byBatch = new Map<string, EmailBatch>();
      if (dueIds.length) {
        const rows = await db
          .updateTable('email_sends')
          .set({ status: 'sending', claimed_until: leaseUntil })
          .where('batch_id', 'in', dueIds)
          .where(stale)
          .returning(['batch_id', 'environment_id', 'user_id', 'notification_id', 'attempts'])
          .execute();
        for (const r of rows) {
          const b = byBatch.get(r.batch_id) ?? { batchId: r.batch_id, environmentId: r.environment_id, userId: r.user_id, attempts: Number(r.attempts), notificationIds: [], leaseUntil };
          b.notificationIds.push(r.notification_id);
          byBatch.set(r.batch_id, b);
        }
      }
      const batches = [...byBatch.values()];

      // Users due an email, environment by environment (only those with email on; in the order
      // given: the caller starts with another each time): unread notifications never claimed that
      // have waited the environment's delay, and a window free. One row per user, the user whose
      // oldest due notification is oldest first, so a long backlog does not hide anyone.
      const oldest = minus(now, UNREAD_MAX_AGE_MS);
      for (const [envId, delay] of delays) {
        if (batches.length >= limit) break;
        const cutoff = minus(now, delay * 1000);
        const dueNotifications = (trx: Kysely<Database>, userId?: string) => {
          let q = trx
            .selectFrom('notifications as n')
            .where('n.environment_id', '=', envId)
            .where('n.read_at', 'is', null)
            .where('n.created_at', '>=', oldest)
            .where('n.created_at', '<=', cutoff)
            .where((eb) =>
              eb.not(
                eb.exists(eb.selectFrom('email_sends as s').select('s.notification_id').whereRef('s.environment_id', '=', 'n.environment_id').whereRef('s.notification_id', '=', 'n.id')),
              ),
            );
          if (userId !== undefined) q = q.where('n.user_id', '=', userId);
          return q;
        };
        const due = await dueNotifications(db)
          .innerJoin('users as u', (j) => j.onRef('u.environment_id', '=', 'n.environment_id').onRef('u.external_id', '=', 'n.user_id'))
          .select(['n.user_id', 'u.emailed_at'])
          .where('u.email', 'is not', null)
          .where('u.email_opt_out', '=', 0)
          .where((eb) => eb.or([eb('u.emailed_at', 'is', null), eb('u.emailed_at', '<=', cutoff)]))
          // Not while an email of theirs is still being sent or waits for a retry (an SMTP outage):
          // what became due meanwhile goes with the window after it, not as a burst of emails.
          .where((eb) =>
            eb.not(
              eb.exists(
                eb
                  .selectFrom('email_sends as p')
                  .select('p.notification_id')
                  .where('p.status', 'in', ['retry', 'sending'])
                  .whereRef('p.environment_id', '=', 'n.environment_id')
                  .whereRef('p.user_id', '=', 'n.user_id'),
              ),
            ),
          )
          .groupBy(['n.user_id', 'u.emailed_at'])
          .orderBy((eb) => eb.fn.min('n.created_at'))
          .orderBy('n.user_id')
          .limit(limit - batches.length)
          .execute();
        for (const u of due) {
          // One transaction per user: one user row locked at a time, so nodes cannot deadlock.
          const batch = await db.transaction().execute(async (trx): Promise<EmailBatch | undefined> => {
            // The user's window is taken first, conditionally: another node that read the same
            // candidates and emailed this user meanwhile makes this update match nothing.
            const took = await trx
              .updateTable('users')
              .set({ emailed_at: now })
              .where('environment_id', '=', envId)
              .where('external_id', '=', u.user_id)
              .where((eb) => eb.or([eb('emailed_at', 'is', null), eb('emailed_at', '<=', cutoff)]))
              .executeTakeFirst();
            if (Number(took.numUpdatedRows) === 0) return undefined;
            // One email per user per window, with the oldest notifications that have waited it out
            // (a newer one may still be read in time: it waits for the next window, as do those
            // past EMAIL_ITEMS_PER_BATCH).
            const ids = (await dueNotifications(trx, u.user_id).select('n.id').orderBy('n.created_at').limit(EMAIL_ITEMS_PER_BATCH).execute()).map((n) => n.id);
            const batchId = newBatchId();
            const claimed = ids.length
              ? await trx
                  .insertInto('email_sends')
                  .values(
                    ids.map((id) => ({
                      environment_id: envId,
                      notification_id: id,
                      user_id: u.user_id,
                      batch_id: batchId,
                      status: 'sending' as const,
                      attempts: 0,
                      claimed_until: leaseUntil,
                      next_attempt_at: null,
                      last_error: null,
                      created_at: now,
                      sent_at: null,
                    })),
                  )
                  .onConflict((oc) => oc.columns(['environment_id', 'notification_id']).doNothing())
                  .returning('notification_id')
                  .execute()
              : [];
            if (claimed.length === 0) {
              // Another node took them all: this window was not used after all.
              await trx.updateTable('users').set({ emailed_at: u.emailed_at }).where('environment_id', '=', envId).where('external_id', '=', u.user_id).execute();
              return undefined;
            }
            return { batchId, environmentId: envId, userId: u.user_id, attempts: 0, notificationIds: claimed.map((c) => c.notification_id), leaseUntil };
          });
          if (batch) batches.push(batch);
        }
      }
      return batches;
    },

    async emailRecipient(envId, userId) {
      const r = await db
        .selectFrom('users')
        .select(['email', 'name', 'email_opt_out'])
        .where('environment_id', '=', envId)
        .where('external_id', '=', userId)
        .executeTakeFirst();
      return r && { email: r.email, name: r.name, optOut: Number(r.email_opt_out) === 1 };
    },

    async emailItems(envId, ids) {
      if (ids.length === 0) return [];
      const rows = await db
        .selectFrom('notifications as n')
        .leftJoin('comments as c', (j) => j.onRef('c.environment_id', '=', 'n.environment_id').onRef('c.id', '=', 'n.comment_id'))
        .leftJoin('users as a', (j) => j.onRef('a.environment_id', '=', 'n.environment_id').onRef('a.external_id', '=', 'n.actor_id'))
        .select(['n.id', 'n.kind', 'n.room_id', 'n.thread_id', 'n.comment_id', 'n.actor_id', 'n.preview', 'n.created_at', 'n.read_at', 'c.body', 'c.mentions', 'a.name'])
        .where('n.environment_id', '=', envId)
        .where('n.id', 'in', ids)
        .orderBy('n.created_at')
        .execute();
      return rows.map((r) => ({
        notificationId: r.id,
        kind: r.kind,
        roomId: r.room_id,
        threadId: r.thread_id,
        commentId: r.comment_id,
        actorId: r.actor_id,
        actorName: r.name ?? r.actor_id,
        body: r.body ?? r.preview,
        mentions: r.mentions ? (JSON.parse(r.mentions) as string[]) : [],
        createdAt: r.created_at,
        read: r.read_at !== null,
      }));
    },

    async renewEmailBatches(batchIds, leaseUntil, until) {
      if (batchIds.length === 0) return [];
      const rows = await held(db.updateTable('email_sends').set({ claimed_until: until }).where('batch_id', 'in', batchIds), leaseUntil)
        .returning('batch_id')
        .execute();
      return [...new Set(rows.map((r) => r.batch_id))];
    },

    async finishEmailBatch(batch, outcome) {
      return db.transaction().execute(async (trx) => {
        const r = await held(
          trx
            .updateTable('email_sends')
            .set((eb) => ({
              status: outcome.status,
              attempts: eb('attempts', '+', 1),
              claimed_until: null,
              next_attempt_at: outcome.nextAttemptAt ?? null,
              last_error: outcome.error ?? null,
              ...(outcome.status === 'sent' ? { sent_at: outcome.at } : {}),
            }))
            .where('batch_id', '=', batch.batchId),
          batch.leaseUntil,
        ).executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) return false;
        if (outcome.emailed) {
          await trx.updateTable('users').set({ emailed_at: outcome.at }).where('environment_id', '=', batch.environmentId).where('external_id', '=', batch.userId).execute();
        }
        return true;
      });
    },

    async releaseEmailBatch(batch) {
      const r = await held(db.deleteFrom('email_sends').where('batch_id', '=', batch.batchId), batch.leaseUntil).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },

    async setEmailOptOut(envId, userId, optOut) {
      const r = await db
        .updateTable('users')
        .set({ email_opt_out: optOut ? 1 : 0 })
        .where('environment_id', '=', envId)
        .where('external_id', '=', userId)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
  };
}

