import { Link } from '../router.tsx';

/** Overview | Data | Webhooks, under an environment's header. */
export function EnvironmentTabs({ envId, active }: { envId: string; active: 'overview' | 'data' | 'webhooks' }) {
  return (
    <nav className="tabs" aria-label="Environment sections">
      <Link to={`/environments/${envId}`} className={`tab${active === 'overview' ? ' is-active' : ''}`} aria-current={active === 'overview' ? 'page' : undefined}>
        Overview
      </Link>
      <Link to={`/environments/${envId}/data`} className={`tab${active === 'data' ? ' is-active' : ''}`} aria-current={active === 'data' ? 'page' : undefined}>
        Data
      </Link>
      <Link to={`/environments/${envId}/webhooks`} className={`tab${active === 'webhooks' ? ' is-active' : ''}`} aria-current={active === 'webhooks' ? 'page' : undefined}>
        Webhooks
      </Link>
    </nav>
  );
}
