import { useState, type FormEvent } from 'react';
import { ApiError, post, type Admin } from '../api.ts';
import { Button, Field } from '../components/controls.tsx';
import { InlineError } from '../components/feedback.tsx';
import { AuthLayout } from './AuthLayout.tsx';

export function LoginPage({ notice, onDone }: { notice?: string | undefined; onDone: (admin: Admin) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  // The notice ("You have logged out.") is about how the user got here: gone once they try to log in.
  const [showNotice, setShowNotice] = useState(true);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setShowNotice(false);
    setError(undefined);
    try {
      const res = await post<{ admin: Admin }>('/login', { email, password });
      onDone(res.admin);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      setBusy(false);
    }
  };

  return (
    <AuthLayout title="Log in" subtitle="Manage your environments, keys and collaboration data.">
      {notice && showNotice && <p className="auth-notice">{notice}</p>}
      <form className="form" onSubmit={submit} noValidate>
        <Field label="Email">
          {(p) => <input {...p} type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} autoFocus />}
        </Field>
        <Field label="Password">
          {(p) => <input {...p} type="password" name="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />}
        </Field>
        <InlineError message={error} />
        <Button type="submit" variant="primary" busy={busy} disabled={!email || !password} className="btn-block">
          Log in
        </Button>
      </form>
      <p className="auth-help muted">
        No account? An Admin can add you under <em>Team</em>, or on the server run <code>npx pulse admin create</code>.
      </p>
    </AuthLayout>
  );
}
