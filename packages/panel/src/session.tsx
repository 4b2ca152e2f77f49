import { createContext, useContext } from 'react';
import type { Admin, Environment } from './api.ts';

export interface Session {
  admin: Admin;
  isAdmin: boolean;
  logout: () => Promise<void>;
  /** The environments of the sidebar; reload after creating or renaming one. */
  environments: Environment[] | undefined;
  reloadEnvironments: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside the signed-in app');
  return session;
}

/** Shown on actions a Member cannot take. */
export const VIEW_ONLY_HINT = 'Members have view-only access: ask an Admin.';
