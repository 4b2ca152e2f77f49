import { PulseError } from '@pulse/protocol';
import { hashPassword } from '../auth/passwords.ts';
import { newAdminId, nowIso } from '../ids.ts';
import type { Store } from '../store/index.ts';
import type { AdminRow } from '../store/types.ts';
import { audit } from './audit.ts';
import { body, email, noFields, PAGED, paged, pageQuery, param, password, role, text } from './input.ts';
import { ADMIN_NAME_MAX_LENGTH } from './limits.ts';
import { Status, type PanelRouter } from './routing.ts';
import { adminView } from './session.ts';

/**
 * The team: accounts of the admin panel. An account can neither remove itself nor change its
 * own role, so there is always at least one Admin left. Role changes apply to open sessions at
 * once (sessions read the account on every request).
 */
export function registerTeamRoutes(router: PanelRouter, store: Store): void {
  const member = async (id: string | undefined) => {
    const found = await store.getAdmin(param(id, 'adminId', 128));
    if (!found) throw new PulseError('not_found', 'No team member with this id.');
    return found;
  };

  router.route('GET', '/team', 'member', async () => ({ members: (await store.listAdmins()).map(adminView) }));

  router.route('GET', '/team/audit', 'member', async ({ request }) => {
    const page = pageQuery(request.query);
    return paged(page, await store.listAudit(null, page));
  }, { query: PAGED });

  router.route('POST', '/team', 'admin', async ({ request, signedIn }) => {
    const input = body(request.body, ['email', 'name', 'password', 'role']);
    const address = email(input);
    const name = text(input, 'name', { max: ADMIN_NAME_MAX_LENGTH });
    const secret = password(input);
    const newRole = role(input);
    if (await store.findAdminByEmail(address)) throw new PulseError('already_exists', `A team member with email ${address} already exists.`);
    const created: AdminRow = { id: newAdminId(), email: address, name, role: newRole, passwordHash: await hashPassword(secret), createdAt: nowIso() };
    await store.createAdmin(created);
    await audit(store, signedIn.admin, null, 'team.added', `${address} as ${newRole}`);
    return new Status(201, { member: adminView(created) });
  });

  router.route('PATCH', '/team/:adminId', 'admin', async ({ request, params, signedIn }) => {
    const input = body(request.body, ['role']);
    const newRole = role(input);
    const target = await member(params.adminId);
    if (target.id === signedIn.admin.id) throw new PulseError('forbidden', 'You cannot change your own role: another Admin must do it.');
    const updated = await store.updateAdminRole(target.id, newRole, signedIn.admin.id);
    if (!updated) throw new PulseError('not_found', 'No team member with this id.');
    if (target.role !== newRole) await audit(store, signedIn.admin, null, 'team.role_changed', `${target.email}: ${target.role} → ${newRole}`);
    return { member: adminView(updated) };
  });

  router.route('DELETE', '/team/:adminId', 'admin', async ({ request, params, signedIn }) => {
    noFields(request.body);
    const target = await member(params.adminId);
    if (target.id === signedIn.admin.id) throw new PulseError('forbidden', 'You cannot remove yourself: another Admin must do it.');
    await store.deleteAdmin(target.id, signedIn.admin.id);
    await audit(store, signedIn.admin, null, 'team.removed', `${target.email} (${target.role})`);
    return new Status(204);
  });
}
