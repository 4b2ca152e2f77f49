import { useState, type FormEvent } from 'react';
import { ApiError, post, type Admin } from '../api.ts';
import { Button } from '../components/controls.tsx';
import { InlineError } from '../components/feedback.tsx';
import { Link } from '../router.tsx';
import { AuthLayout } from './AuthLayout.tsx';

const MIN_PASSWORD = 8;

/** First run: create the first Admin with the one-time token printed on the server console. */
export function SetupPage({ setupRequired, onDone }: { setupRequired: boolean; onDone: (admin: Admin) => void }) {
  const fromUrl = new URLSearchParams(window.location.search).get('token') ?? '';
  const [token, setToken] = useState(fromUrl);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [touched, setTouched] = useState(false);

  if (!setupRequired) {
    return (
      <AuthLayout title="Setup is done" subtitle="This Pulse server already has an admin account.">
        <p>
          <Link to="/login" className="btn btn-primary btn-md btn-block">
            Go to login
          </Link>
        </p>
      </AuthLayout>
    );
  }

  const problems = {
    name: name.trim() ? undefined : 'Enter your name.',
    email: /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim()) ? undefined : 'Enter an email address.',
    password: password.length >= MIN_PASSWORD ? undefined : `At least ${MIN_PASSWORD} characters.`,
    confirm: confirm === password ? undefined : 'The passwords do not match.',
    token: token.trim() ? undefined : 'Paste the setup token from the server console.',
  };
  const valid = Object.values(problems).every((p) => !p);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (!valid) return;
    setBusy(true);
    setError(undefined);
    try {
      const res = await post<{ admin: Admin }>('/setup', { token: token.trim(), name: name.trim(), email: email.trim(), password });
      onDone(res.admin);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      setBusy(false);
    }
  };

  const hint = (key: keyof typeof problems) => (touched && problems[key] ? <small className="field-error">{problems[key]}</small> : null);

  return (
    <AuthLayout title="Welcome to Pulse" subtitle="Create the first Admin account for this server. You can invite your team afterwards.">
      <form className="form" onSubmit={submit} noValidate>
        {(
          <label className="field">
            <span>Setup token</span>
            <input name="token" value={token} onChange={(e) => setToken(e.target.value)} className="mono" spellCheck={false} />
            <small className="muted">{fromUrl ? 'Filled in from your setup link.' : 'Printed on the server console when Pulse starts without an admin.'}</small>
            {hint('token')}
          </label>
        )}
        <label className="field">
          <span>Your name</span>
          <input name="name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} maxLength={100} autoFocus />
          {hint('name')}
        </label>
        <label className="field">
          <span>Email</span>
          <input type="email" name="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} />
          {hint('email')}
        </label>
        <label className="field">
          <span>Password</span>
          <input type="password" name="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
          {hint('password') ?? <small className="muted">At least {MIN_PASSWORD} characters.</small>}
        </label>
        <label className="field">
          <span>Confirm password</span>
          <input type="password" name="confirm" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} />
          {hint('confirm')}
        </label>
        <InlineError message={error} />
        <Button type="submit" variant="primary" busy={busy} className="btn-block">
          Create admin account
        </Button>
      </form>
    </AuthLayout>
  );
}
