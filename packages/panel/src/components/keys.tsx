import { useState } from 'react';
import type { KeyPair } from '../api.ts';
import { Button, CopyField } from './controls.tsx';
import { Modal } from './modal.tsx';

/**
 * A new key pair, shown once (after creating an environment or rotating its keys). Closing needs
 * an explicit acknowledgement: the secret key is never shown again.
 */
export function KeyPairModal({ title, intro, pair, onClose }: { title: string; intro: string; pair: KeyPair; onClose: () => void }) {
  const [saved, setSaved] = useState(false);
  return (
    <Modal
      title={title}
      onClose={onClose}
      dismissable={false}
      footer={
        <>
          <label className="checkbox">
            <input type="checkbox" checked={saved} onChange={(e) => setSaved(e.target.checked)} />
            <span>I have saved the secret key</span>
          </label>
          <Button variant="primary" onClick={onClose} disabled={!saved}>
            Done
          </Button>
        </>
      }
    >
      <p>{intro}</p>
      <CopyField label="Publishable key" value={pair.publishableKey} />
      <p className="hint">Goes in your frontend: it identifies the environment. Safe to expose.</p>
      <CopyField label="Secret key" value={pair.secretKey} secret />
      <p className="hint">Goes in your backend (environment variables): mints user tokens and authenticates REST calls.</p>
      <div className="callout callout-warning" role="alert">
        <strong>The secret key is shown only once.</strong> Copy it now and store it securely, for example in your backend's environment
        variables or a secrets manager. Never put it in frontend code. If you lose it, rotate the keys.
      </div>
    </Modal>
  );
}
