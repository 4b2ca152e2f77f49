import { describe, expect, it } from 'vitest';
import { optionsFromEnv, redactUrl } from './options.ts';

describe('optionsFromEnv: connection strings', () => {
  it('takes PostgreSQL and Redis URLs of the documented forms', () => {
    const o = optionsFromEnv({ DATABASE_URL: 'postgres://u:p@db:5432/pulse', REDIS_URL: 'rediss://:p@cache:6380/2' });
    expect(o).toMatchObject({ databaseUrl: 'postgres://u:p@db:5432/pulse', redisUrl: 'rediss://:p@cache:6380/2' });
    expect(optionsFromEnv({ DATABASE_URL: 'postgresql://db/pulse', REDIS_URL: 'redis://cache' })).toMatchObject({ redisUrl: 'redis://cache' });
    expect(optionsFromEnv({ DATABASE_URL: 'postgres:///pulse?host=/var/run/postgresql', REDIS_URL: '/var/run/redis/redis.sock' })).toMatchObject({
      databaseUrl: 'postgres:///pulse?host=/var/run/postgresql',
      redisUrl: '/var/run/redis/redis.sock',
    });
  });

  it('refuses anything else at start, naming the variable and never the password', () => {
    expect(() => optionsFromEnv({ DATABASE_URL: 'mysql://x:secret@db/pulse' })).toThrow(/^DATABASE_URL must be a PostgreSQL connection string .*got "mysql:\/\/x:\*\*\*@db\/pulse"$/);
    expect(() => optionsFromEnv({ DATABASE_URL: 'db.internal' })).toThrow(/DATABASE_URL must be/);
    expect(() => optionsFromEnv({ REDIS_URL: 'http://127.0.0.1:6379' })).toThrow(/^REDIS_URL must look like redis:\/\//);
    expect(() => optionsFromEnv({ REDIS_URL: 'notaurl' })).toThrow(/REDIS_URL must look like/);
    expect(() => optionsFromEnv({ REDIS_URL: 'redis://cache:6379/two' })).toThrow(/REDIS_URL: the database after the port must be a number/);
  });

  it('redacts passwords, also from what is not a URL', () => {
    expect(redactUrl('postgres://u:secret@db/x')).toBe('postgres://u:***@db/x');
    expect(redactUrl('not a url //u:secret@host')).toBe('not a url //***@host');
  });
});

describe('optionsFromEnv: PULSE_PORT', () => {
  it('takes a whole number from 0 to 65535, with spaces or a CR around it (an env file), and names what it refuses', () => {
    expect(optionsFromEnv({}).port).toBe(4567);
    expect(optionsFromEnv({ PULSE_PORT: '0' }).port).toBe(0);
    expect(optionsFromEnv({ PULSE_PORT: ' 8080\r' }).port).toBe(8080);
    expect(optionsFromEnv({ PULSE_PORT: '65535' }).port).toBe(65535);
    for (const bad of ['65536', '-1', '1e3', '0x50', '80.5', 'abc']) {
      expect(() => optionsFromEnv({ PULSE_PORT: bad }), bad).toThrow(`PULSE_PORT must be a port number (0–65535), got ${JSON.stringify(bad)}`);
    }
    expect(() => optionsFromEnv({ PULSE_PORT: '80\u0000' })).toThrow('got "80\\u0000"');
  });
});
