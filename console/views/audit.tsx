/** The audit log (who, what, when, result), newest first, a page at a time. */
import { useState } from 'preact/hooks';
import { time } from '../format.ts';
import { Table, useGet } from './common.tsx';

export function Audit() {
  const [cursor, setCursor] = useState<string[]>([]);
  const at = cursor[cursor.length - 1];
  const r = useGet(`/api/v1/audit?limit=100${at ? `&cursor=${encodeURIComponent(at)}` : ''}`, at ? 0 : 5000);
  const rows: any[] = r?.ok ? r.body.audit : [];
  return (
    <div data-testid="view-audit">
      {r && !r.ok ? <p class="error">{r.error}</p> : null}
      <Table
        testid="audit"
        head={['time', 'actor', 'action', 'target', 'result', 'detail']}
        rows={rows.map((e) => [time(e.time), e.actor, e.action, e.target ?? '', e.result ?? '', <code>{e.detail ? JSON.stringify(e.detail) : ''}</code>])}
        empty="nothing audited yet"
      />
      <div class="controls">
        {cursor.length ? <button onClick={() => setCursor(cursor.slice(0, -1))}>newer</button> : null}
        {r?.ok && r.body.next_cursor ? <button onClick={() => setCursor([...cursor, r.body.next_cursor])}>older</button> : null}
      </div>
    </div>
  );
}
