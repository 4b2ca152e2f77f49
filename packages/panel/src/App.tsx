import { useCallback, useEffect, useState } from 'react';
import { ApiError, get, onUnauthorized, post, type Admin } from './api.ts';
import { ErrorState, Spinner } from './components/feedback.tsx';
import { Shell } from './Shell.tsx';
import { LoginPage } from './pages/LoginPage.tsx';
import { SetupPage } from './pages/SetupPage.tsx';
import { navigate, useLocation } from './router.tsx';

type Boot =
  | { state: 'loading' }
  | { state: 'error'; error: ApiError }
  | { state: 'signed-out'; setupRequired: boolean; notice?: string }
  | { state: 'signed-in'; admin: Admin };

/** Decides between first-run setup, login and the signed-in panel. */
export function App() {
  const { path } = useLocation();
  const [boot, setBoot] = useState<Boot>({ state: 'loading' });

  const load = useCallback(async () => {
    setBoot({ state: 'loading' });
    try {
      const session = await get<{ admin: Admin | null; setupRequired: boolean }>('/session');
      setBoot(session.admin ? { state: 'signed-in', admin: session.admin } : { state: 'signed-out', setupRequired: session.setupRequired });
    } catch (err) {
      setBoot({ state: 'error', error: err instanceof ApiError ? err : new ApiError(0, 'error', String(err)) });
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  // The account is read again on every navigation, so a role change shows without a reload.
  const signedInId = boot.state === 'signed-in' ? boot.admin.id : null;
  useEffect(() => {
    if (!signedInId) return;
    get<{ admin: Admin | null }>('/session').then(
      ({ admin }) => {
        if (!admin) return setBoot({ state: 'signed-out', setupRequired: false, notice: 'Your session has ended. Log in again.' });
        setBoot((b) => (b.state === 'signed-in' && (b.admin.role !== admin.role || b.admin.name !== admin.name) ? { state: 'signed-in', admin } : b));
      },
      () => {},
    );
  }, [path, signedInId]);

  useEffect(
    () =>
      onUnauthorized(() =>
        setBoot((b) => (b.state === 'signed-in' ? { state: 'signed-out', setupRequired: false, notice: 'Your session has ended. Log in again.' } : b)),
      ),
    [],
  );

  const signedIn = (admin: Admin) => {
    setBoot({ state: 'signed-in', admin });
    if (path === '/login' || path === '/setup' || path === '/') navigate('/environments', { replace: true });
  };

  const logout = async () => {
    try {
      await post('/logout');
    } finally {
      setBoot({ state: 'signed-out', setupRequired: false, notice: 'You have logged out.' });
      navigate('/login', { replace: true });
    }
  };

  if (boot.state === 'loading') {
    return (
      <div className="center-page">
        <Spinner label="Loading the admin panel…" />
      </div>
    );
  }
  if (boot.state === 'error') {
    return (
      <div className="center-page">
        <ErrorState title="The admin panel could not start" error={boot.error} onRetry={() => void load()} />
      </div>
    );
  }
  if (boot.state === 'signed-out') {
    if (boot.setupRequired || path === '/setup') return <SetupPage setupRequired={boot.setupRequired} onDone={signedIn} />;
    return <LoginPage notice={boot.notice} onDone={signedIn} />;
  }
  return <Shell admin={boot.admin} onLogout={logout} />;
}
