import { useState, type FormEvent } from 'react';
import { ApiError, post, type Admin } from '../api.ts';
import { Button, Field } from '../components/controls.tsx';
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

  const shown = (key: keyof typeof problems) => (touched ? problems[key] : undefined);

  return (
    <AuthLayout title="Welcome to Pulse" subtitle="Create the first Admin account for this server. You can invite your team afterwards.">
      <form className="form" onSubmit={submit} noValidate>
        <Field label="Setup token" hint={fromUrl ? 'Filled in from your setup link.' : 'Printed on the server console when Pulse starts without an admin.'} error={shown('token')}>
          {(p) => <input {...p} name="token" value={token} onChange={(e) => setToken(e.target.value)} className="mono" spellCheck={false} />}
        </Field>
        <Field label="Your name" error={shown('name')}>
          {(p) => <input {...p} name="name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} maxLength={100} autoFocus />}
        </Field>
        <Field label="Email" error={shown('email')}>
          {(p) => <input {...p} type="email" name="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} />}
        </Field>
        <Field label="Password" hint={shown('password') ? undefined : `At least ${MIN_PASSWORD} characters.`} error={shown('password')}>
          {(p) => <input {...p} type="password" name="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />}
        </Field>
        <Field label="Confirm password" error={shown('confirm')}>
          {(p) => <input {...p} type="password" name="confirm" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} />}
        </Field>
        <InlineError message={error} />
        <Button type="submit" variant="primary" busy={busy} className="btn-block">
          Create admin account
        </Button>
      </form>
    </AuthLayout>
  );
}
