import { describe, expect, it } from 'vitest';
import { DEFAULT_EMAIL_FROM, emailSettingsFromEnv } from './settings.ts';

describe('email settings', () => {
  it('takes a From address alone or with a name', () => {
    expect(emailSettingsFromEnv({}).from).toBe(DEFAULT_EMAIL_FROM);
    expect(emailSettingsFromEnv({ PULSE_EMAIL_FROM: ' ops@example.com ' }).from).toBe('ops@example.com');
    expect(emailSettingsFromEnv({ PULSE_EMAIL_FROM: '"Ops, Team" <ops@example.com>' }).from).toBe('"Ops, Team" <ops@example.com>');
  });

  it('refuses a From that is not an address, at start-up rather than at the first email', () => {
    for (const from of ['not-an-address', 'Ops <ops>', 'ops@example.com\nBcc: all@example.com']) {
      expect(() => emailSettingsFromEnv({ PULSE_EMAIL_FROM: from }), from).toThrow(/^PULSE_EMAIL_FROM must be an address/);
    }
  });

  it('refuses an SMTP URL of another scheme', () => {
    expect(() => emailSettingsFromEnv({ PULSE_SMTP_URL: 'http://127.0.0.1:25' })).toThrow(/smtp:\/\/ or smtps:\/\//);
  });
});
