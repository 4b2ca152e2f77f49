import { useEffect, useMemo, useState } from 'react';
import { linkTemplateProblem } from '@pulse/protocol/lite';
import { ApiError, errorAt, patch, seg, type Config, type ConfigField, type ConfigGroup } from '../api.ts';
import { Button } from './controls.tsx';
import { InlineError, useToast } from './feedback.tsx';
import { ConfirmDialog, Modal } from './modal.tsx';

const GROUP_TITLES: Record<string, string> = { Media: 'Media', Features: 'Features', Display: 'Display', P2P: 'P2P / Real-Time Data' };

function problem(field: ConfigField, raw: string): string | undefined {
  if (raw.trim() === '') return 'Enter a number.';
  const n = Number(raw);
  if (!Number.isInteger(n)) return 'Enter a whole number.';
  if (field.min !== undefined && n < field.min) return `At least ${field.min}.`;
  if (field.max !== undefined && n > field.max) return `At most ${field.max}.`;
  return undefined;
}

/** Configure Environment: every feature flag, grouped as on the config page; Save applies at once. */
export function ConfigureModal({
  envId,
  config,
  defaults,
  groups,
  emailSending,
  readOnly,
  onClose,
  onSaved,
}: {
  envId: string;
  config: Config;
  defaults: Config;
  groups: ConfigGroup[];
  /** Whether the server has PULSE_SMTP_URL; without it, the Email group says that nothing is sent. */
  emailSending: boolean;
  readOnly: boolean;
  onClose: () => void;
  onSaved: (config: Config) => void;
}) {
  const toast = useToast();
  const [values, setValues] = useState<Record<string, boolean | string>>(() =>
    Object.fromEntries(Object.entries(config).map(([k, v]) => [k, typeof v === 'number' ? String(v) : v])),
  );
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const fields = useMemo(() => groups.flatMap((g) => g.fields), [groups]);

  const problems = Object.fromEntries(fields.filter((f) => f.kind === 'number').map((f) => [f.key, problem(f, String(values[f.key]))]));
  // The link template as the server checks it, once edited (a stored one from before a rule still reads).
  const template = String(values.emailLinkTemplate ?? '');
  if (template !== config.emailLinkTemplate) problems.emailLinkTemplate = linkTemplateProblem(template);
  const changes: Config = {};
  for (const f of fields) {
    const v = values[f.key];
    const next = f.kind === 'number' ? Number(v) : f.kind === 'string' ? String(v ?? '') : Boolean(v);
    if (next !== config[f.key] && !(f.kind === 'number' && problems[f.key])) changes[f.key] = next;
  }
  // A text setting wrong as typed, or that the server refused ("emailLinkTemplate: …"): shown at
  // that field. (Numbers are checked as they are typed; anything else shows under the form.)
  const refusedField = fields.find((f) => f.kind === 'string' && (problems[f.key] || errorAt(error, f.key)))?.key;
  useEffect(() => {
    if (refusedField) document.getElementById(`cfg-${refusedField}`)?.focus();
  }, [refusedField, error]);
  const invalid = Object.values(problems).some(Boolean);
  // Edits, a number typed wrong included (Save stays off until it is fixed; closing asks first).
  const changeCount = fields.filter((f) => f.key in changes || (f.kind === 'number' && problems[f.key] && values[f.key] !== String(config[f.key]))).length;
  const dirty = changeCount > 0;
  // Escape, the × and a click outside ask before unsaved changes are thrown away (Cancel does not: it says so).
  const [askDiscard, setAskDiscard] = useState(false);
  const dismiss = () => {
    if (askDiscard) return;
    if (dirty && !readOnly) setAskDiscard(true);
    else onClose();
  };

  const save = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const res = await patch<{ config: Config }>(`/environments/${seg(envId)}/config`, changes);
      toast('Configuration saved. Connected clients have the new settings.');
      onSaved(res.config);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      setBusy(false);
    }
  };

  const restoreDefaults = () => setValues(Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, typeof v === 'number' ? String(v) : v])));

  return (
    <Modal
      title={readOnly ? 'Environment Configuration' : 'Configure Environment'}
      onClose={dismiss}
      size="lg"
      footer={
        readOnly ? (
          <Button onClick={onClose}>Close</Button>
        ) : (
          <>
            <Button variant="ghost" onClick={restoreDefaults} disabled={busy} className="footer-left">
              Restore defaults
            </Button>
            <Button onClick={onClose} disabled={busy}>
              Cancel
            </Button>
            <Button variant="primary" onClick={save} busy={busy} disabled={!dirty || invalid}>
              Save{dirty ? ` (${changeCount})` : ''}
            </Button>
          </>
        )
      }
    >
      <p className="muted">
        {readOnly
          ? 'You have view-only access: these are the current settings.'
          : 'Changes apply as soon as you save: connected widgets receive the new settings live, and the server enforces them.'}
      </p>
      <div className="config-groups">
        {groups.map((group) => (
          <fieldset key={group.name} className="config-group">
            <legend>{GROUP_TITLES[group.name] ?? group.name}</legend>
            {group.name === 'Email' && !emailSending && (
              <p className="config-note" role="note">
                This server has no <code>PULSE_SMTP_URL</code>, so it sends no email whatever these say. Set it (and{' '}
                <code>PULSE_EMAIL_FROM</code>) and restart Pulse to send them.
              </p>
            )}
            {group.fields.map((f) => {
              const id = `cfg-${f.key}`;
              // A number being typed, even one out of range (not saved), is marked changed too.
              const changed = f.key in changes || (f.kind === 'number' && String(values[f.key]) !== String(config[f.key]));
              // Still editable (to prepare it before turning the switch on), but shown as idle.
              const idle = f.requires !== undefined && !values[f.requires];
              const rowClass = `${changed ? ' is-changed' : ''}${idle ? ' is-idle' : ''}`;
              const idleNote = idle && <small className="idle-note">No effect while {fields.find((x) => x.key === f.requires)?.label ?? f.requires} is off</small>;
              if (f.kind === 'string') {
                return (
                  <div key={f.key} className={`config-row config-row-text${rowClass}`}>
                    <div className="config-text">
                      <label htmlFor={id}>{f.label}</label>
                      <small>{f.description}</small>
                      {idleNote}
                      {refusedField === f.key && <small className="field-error">{problems[f.key] ?? errorAt(error, f.key)}</small>}
                    </div>
                    <input
                      id={id}
                      name={f.key}
                      type="text"
                      className={`text${refusedField === f.key ? ' is-invalid' : ''}`}
                      value={String(values[f.key] ?? '')}
                      disabled={readOnly || busy}
                      aria-invalid={refusedField === f.key}
                      onChange={(e) => {
                        setValues((v) => ({ ...v, [f.key]: e.target.value }));
                        if (refusedField === f.key) setError(undefined);
                      }}
                    />
                  </div>
                );
              }
              if (f.kind === 'boolean') {
                return (
                  <div key={f.key} className={`config-row${rowClass}`}>
                    <div className="config-text">
                      <label htmlFor={id}>{f.label}</label>
                      <small>{f.description}</small>
                      {idleNote}
                    </div>
                    <input
                      id={id}
                      name={f.key}
                      type="checkbox"
                      role="switch"
                      className="switch"
                      checked={Boolean(values[f.key])}
                      disabled={readOnly || busy}
                      onChange={(e) => setValues((v) => ({ ...v, [f.key]: e.target.checked }))}
                    />
                  </div>
                );
              }
              return (
                <div key={f.key} className={`config-row${rowClass}`}>
                  <div className="config-text">
                    <label htmlFor={id}>{f.label}</label>
                    <small>
                      {f.description} · {f.min}–{f.max}
                      {f.unit ? ` ${f.unit}` : ''}
                    </small>
                    {idleNote}
                    {problems[f.key] && <small className="field-error">{problems[f.key]}</small>}
                  </div>
                  <input
                    id={id}
                    name={f.key}
                    type="number"
                    inputMode="numeric"
                    min={f.min}
                    max={f.max}
                    step={1}
                    className={`number${problems[f.key] ? ' is-invalid' : ''}`}
                    value={String(values[f.key])}
                    disabled={readOnly || busy}
                    aria-invalid={Boolean(problems[f.key])}
                    onChange={(e) => setValues((v) => ({ ...v, [f.key]: e.target.value }))}
                  />
                </div>
              );
            })}
          </fieldset>
        ))}
      </div>
      <InlineError message={refusedField ? undefined : error} />
      {askDiscard && (
        <ConfirmDialog title="Discard your changes?" confirmLabel="Discard" onConfirm={async () => onClose()} onClose={() => setAskDiscard(false)}>
          {changeCount === 1 ? 'One setting is changed and not saved.' : `${changeCount} settings are changed and not saved.`} Close without saving
          them?
        </ConfirmDialog>
      )}
    </Modal>
  );
}
