/**
 * Mitigate now: a target inside `networks` and a method (a named FlowSpec
 * method, or a blackhole), the lint result and the collateral preview shown
 * before Send, then Send; a refusal shows the guard's reason. Against a
 * daemon without the mitigations routes it offers the blackhole through
 * POST /api/v1/ban and says the preview is not available.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, unavailable, type ApiResult } from '../api.ts';
import { pct, num } from '../format.ts';
import { actionText, lintRefusals, matchText, NotAvailable, routeText, ruleText, Table, useGet } from './common.tsx';

const BLACKHOLE = '(blackhole)';

/** A daemon without the route (404 without a reason); a 404 with one is a refusal (a target outside the token's tenant). */
const missingRoute = (r: ApiResult) => unavailable(r) && !r.body?.reason;
const INFERRED = '(inferred)';

export function Mitigate(props: { initialTarget?: string; attackId?: string }) {
  const methods = useGet('/api/v1/mitigations/methods');
  // "infer from alarm": a match proposed from the attack's sample, shown for approval
  const infer = useGet(props.attackId ? `/api/v1/attacks/${encodeURIComponent(props.attackId)}/infer` : null);
  const inferred = infer?.ok ? infer.body : undefined;
  const [target, setTarget] = useState(props.initialTarget ?? '');
  const [method, setMethod] = useState(BLACKHOLE);
  // Another link into this view while it is open (#/mitigate/IP/ATTACK) brings its target.
  useEffect(() => {
    if (props.initialTarget) choose(setTarget, props.initialTarget);
  }, [props.initialTarget]);
  useEffect(() => {
    if (inferred?.match) choose(setMethod, INFERRED);
  }, [inferred]);
  const [ttl, setTtl] = useState('3600');
  const [reason, setReason] = useState('');
  const [preview, setPreview] = useState<ApiResult | undefined>();
  const [sent, setSent] = useState<ApiResult | undefined>();
  const [busy, setBusy] = useState(false);
  const hasMethods = methods?.ok === true;
  const list: any[] = hasMethods ? methods.body.methods ?? [] : [];
  const chosen = list.find((m) => m.name === method);
  // A new target or method drops the old preview in the same render (an effect would run after paint).
  const choose = (set: (x: string) => void, x: string) => {
    set(x);
    setPreview(undefined);
    setSent(undefined);
  };

  const doPreview = async () => {
    setBusy(true);
    const q = new URLSearchParams({ target: target.trim() });
    if (method === INFERRED) q.set('match', JSON.stringify(inferred.match));
    else if (method !== BLACKHOLE) q.set('method', method);
    setPreview(await api('GET', `/api/v1/mitigations/preview?${q}`));
    setBusy(false);
  };
  const previewMissing = preview !== undefined && missingRoute(preview);
  const lintBlocks = preview?.ok && (preview.body.lint ?? []).length > 0 && (preview.body.lint ?? []).every((l: any) => !l.ok);
  const canSend = target.trim() !== '' && preview !== undefined && (preview.ok || previewMissing) && !busy;

  const send = async () => {
    setBusy(true);
    const ttlSeconds = Number(ttl) || undefined;
    let r: ApiResult;
    const choice = method === INFERRED ? { match: inferred.match } : method !== BLACKHOLE ? { method } : {};
    // A blackhole is a plain ban; FlowSpec choices go through the mitigations routes.
    if (hasMethods && method !== BLACKHOLE) r = await api('POST', '/api/v1/mitigations', { target: target.trim(), ...choice, ttl_seconds: ttlSeconds, ...(reason ? { reason } : {}) });
    else r = await api('POST', '/api/v1/ban', { ip: target.trim(), ttl_seconds: ttlSeconds, ...(reason ? { reason } : {}) });
    setSent(r);
    setBusy(false);
  };

  return (
    <div data-testid="view-mitigate">
      <div class="form">
        <label>
          target (inside networks)
          <input data-testid="mitigate-target" value={target} placeholder="198.51.100.10" onInput={(e) => choose(setTarget, (e.target as HTMLInputElement).value)} />
        </label>
        <label>
          method
          <select data-testid="mitigate-method" value={method} onChange={(e) => choose(setMethod, (e.target as HTMLSelectElement).value)}>
            <option value={BLACKHOLE}>blackhole (RTBH)</option>
            {inferred?.match ? <option value={INFERRED}>FlowSpec inferred from the attack</option> : null}
            {list.map((m) => (
              <option value={m.name}>{m.name}</option>
            ))}
          </select>
        </label>
        <label>
          TTL seconds
          <input value={ttl} onInput={(e) => setTtl((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          reason
          <input value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
        </label>
      </div>
      {methods && !hasMethods ? <NotAvailable what="FlowSpec methods" r={methods} /> : null}
      {chosen ? (
        <p class="muted" data-testid="method-match">
          {chosen.name}: {matchText(chosen.match)} → {actionText(chosen.action)}
          {chosen.platforms?.length ? ` (platforms ${chosen.platforms.join(', ')})` : ' (every FlowSpec neighbor)'}
          {chosen.description ? ` — ${chosen.description}` : ''}
        </p>
      ) : null}
      {method === INFERRED && inferred ? (
        <p class="muted" data-testid="inferred">
          Inferred from attack {inferred.attack_id} ({inferred.vector}): <strong data-testid="inferred-match">{matchText(inferred.match)}</strong> <code>{JSON.stringify(inferred.match)}</code>
          {Array.isArray(inferred.basis) && inferred.basis.length ? ` — ${inferred.basis.join('; ')}` : ''}
          {typeof inferred.coverage === 'number' ? `, covers ${pct(inferred.coverage)} of the sample` : ''}. Check it before sending.
        </p>
      ) : null}
      <div class="controls">
        <button data-testid="mitigate-preview" disabled={!target.trim() || busy} onClick={doPreview}>
          Preview
        </button>
        <button class="danger" data-testid="mitigate-send" disabled={!canSend} onClick={send} title={canSend ? '' : 'preview first'}>
          Send
        </button>
      </div>
      {preview ? <Preview r={preview} blocks={!!lintBlocks} /> : <p class="muted">Preview shows the lint result and the collateral before anything is sent.</p>}
      {sent ? (
        sent.ok ? (
          <div class="ok" data-testid="mitigate-result">
            sent: {sent.body.ban ? `${sent.body.ban.action} ${sent.body.ban.target} (ban ${sent.body.ban.id}, ${sent.body.ban.mode === 'dry_run' ? 'dry-run: nothing leaves' : 'announced'})` : JSON.stringify(sent.body)}
            {lintRefusals(sent.body.lint).map((x) => (
              <div class="bad">{x}</div>
            ))}
          </div>
        ) : (
          <p class="error" data-testid="mitigate-result">
            refused: {sent.error}
            {sent.body?.code ? ` [${sent.body.code}]` : ''}
          </p>
        )
      ) : null}
    </div>
  );
}

function Preview(props: { r: ApiResult; blocks: boolean }) {
  const r = props.r;
  if (missingRoute(r)) return <NotAvailable what="Lint and collateral preview" r={r} />;
  if (!r.ok) return <p class="error" data-testid="preview-error">refused: {r.error}</p>;
  const p = r.body;
  const c = p.collateral;
  return (
    <div data-testid="preview">
      <h2>Routes</h2>
      <ul>{(p.routes ?? []).map((x: any) => <li class="route">{x.type ? routeText(x) : ruleText(x)}</li>)}</ul>
      <h2>Lint</h2>
      <Table
        testid="lint"
        head={['neighbor', 'profile', 'result', 'findings']}
        rows={(p.lint ?? []).map((l: any) => [l.neighbor, l.profile, <span class={l.ok ? 'good' : 'bad'}>{l.ok ? 'ok' : 'refused'}</span>, (l.findings ?? []).map((f: any) => `${f.severity} ${f.code}: ${f.message}`).join('; ')])}
        empty="no neighbor to lint against"
      />
      {props.blocks ? <p class="error">Every neighbor refuses this rule: nothing would be sent.</p> : null}
      <h2>Collateral</h2>
      {c ? (
        <div data-testid="collateral">
          <p class="summary">{c.summary}</p>
          <p class="muted">
            last {c.window_seconds} s: {num(c.dropped_pps)} of {num(c.total_pps)} pps dropped ({pct(c.dropped_share)}); attack-like {pct(c.attack_like_share)}, legitimate-looking {pct(c.legit_like_share)}
          </p>
        </div>
      ) : (
        <p class="muted">no collateral estimate</p>
      )}
    </div>
  );
}
