/** The running config, read-only, as GET /api/v1/config gives it (secrets already hidden by the daemon; admin only). */
import { useGet } from './common.tsx';

export function Config() {
  const r = useGet('/api/v1/config');
  if (!r) return <p class="muted">loading…</p>;
  if (!r.ok) return <p class="error">{r.error}</p>;
  return (
    <div data-testid="view-config">
      <p class="muted">Read-only. Secrets are never in the file (keys ending in _env name a variable); values that can carry one are shown as (hidden).</p>
      <pre data-testid="config-text">{JSON.stringify(r.body, null, 2)}</pre>
    </div>
  );
}
