/** The audit log (who, what, when, result), newest first, a page at a time. */
import { useState } from 'preact/hooks';
import { time } from '../format.ts';
import { Table, useGet } from './common.tsx';

const PAGE = 100;

export function Audit() {
  // pages: opaque cursors where the daemon gives them (next_cursor), offsets otherwise
  const [cursor, setCursor] = useState<string[]>([]);
  const at = cursor[cursor.length - 1];
  const q = at === undefined ? '' : at.startsWith('offset:') ? `&offset=${at.slice(7)}` : `&cursor=${encodeURIComponent(at)}`;
  const r = useGet(`/api/v1/audit?limit=${PAGE}${q}`, at ? 0 : 5000);
  const rows: any[] = r?.ok ? r.body.audit : [];
  let next: string | undefined;
  if (r?.ok && r.body.next_cursor) next = r.body.next_cursor;
  else if (r?.ok && r.body.next_cursor === undefined && r.body.offset + rows.length < r.body.total) next = `offset:${r.body.offset + rows.length}`;
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
        {next ? <button onClick={() => setCursor([...cursor, next])}>older</button> : null}
      </div>
    </div>
  );
}
