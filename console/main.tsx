/**
 * The Breakwater console: a login with an API token, then the views the
 * token's role may see (viewer: read; operator: also unban and mitigate
 * now; admin: also the config). Hash routes (#/attacks/ID) keep it one page
 * served from two files.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, RANK, saveToken, savedToken, type Role } from './api.ts';
import { LiveContext, useStream } from './live.ts';
import { AttackDetail, Attacks } from './views/attacks.tsx';
import { Audit } from './views/audit.tsx';
import { Bans } from './views/bans.tsx';
import { Config } from './views/config.tsx';
import { History } from './views/history.tsx';
import { HistoryAttack } from './views/history-attack.tsx';
import { Mitigate } from './views/mitigate.tsx';
import { Overview } from './views/overview.tsx';
import { Talkers } from './views/talkers.tsx';
import './style.css';

interface Who {
  name: string;
  role: Role;
  tenant?: string;
}

/** `offered`: shown in the nav only when the status says so (History: the daemon has ClickHouse); the hash still opens it. */
const VIEWS: Array<{ path: string; label: string; need: Role; offered?: (status: any) => boolean }> = [
  { path: 'overview', label: 'Overview', need: 'viewer' },
  { path: 'talkers', label: 'Top talkers', need: 'viewer' },
  { path: 'attacks', label: 'Attacks', need: 'viewer' },
  { path: 'bans', label: 'Bans', need: 'viewer' },
  { path: 'history', label: 'History', need: 'viewer', offered: (status) => status?.history !== undefined },
  { path: 'mitigate', label: 'Mitigate now', need: 'operator' },
  { path: 'audit', label: 'Audit', need: 'viewer' },
  { path: 'config', label: 'Config', need: 'admin' },
];

function useHash(): string {
  const [h, setH] = useState(location.hash);
  useEffect(() => {
    const on = () => setH(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return h;
}

function Login(props: { onIn: (w: Who) => void; error: string }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(props.error);
  const submit = async (e: Event) => {
    e.preventDefault();
    saveToken(token.trim());
    const r = await api<Who>('GET', '/api/v1/whoami');
    if (r.ok) props.onIn(r.body);
    else {
      saveToken('');
      setError(r.status === 401 ? 'unknown token' : r.error);
    }
  };
  return (
    <form class="login" onSubmit={submit} data-testid="view-login">
      <h1>Breakwater</h1>
      <label>
        API token
        <input type="password" autocomplete="off" data-testid="login-token" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} autofocus />
      </label>
      <button type="submit" data-testid="login-submit">
        Log in
      </button>
      {error ? <p class="error">{error}</p> : null}
      <p class="muted">The token stays in this browser tab only (session storage). A token from api.tokens: viewer reads; operator also bans and unbans; admin also sees the config.</p>
    </form>
  );
}

function App() {
  const [who, setWho] = useState<Who | undefined>();
  const [checked, setChecked] = useState(false);
  const [loginError, setLoginError] = useState('');
  const hash = useHash();
  useEffect(() => {
    // A saved token (or a daemon without tokens) logs in by itself.
    void api<Who>('GET', '/api/v1/whoami').then((r) => {
      if (r.ok) setWho(r.body);
      else if (savedToken()) setLoginError('the saved token was refused: log in again');
      setChecked(true);
    });
  }, []);
  const live = useStream(who !== undefined);
  if (!checked) return <p class="muted">…</p>;
  if (!who)
    return (
      <Login
        error={loginError}
        onIn={(w) => {
          setWho(w);
          if (!location.hash) location.hash = '#/overview';
        }}
      />
    );
  const parts = hash.replace(/^#\/?/, '').split('/');
  const can = (need: Role) => RANK[who.role] >= RANK[need];
  const views = VIEWS.filter((v) => can(v.need));
  const page = views.some((v) => v.path === parts[0]) ? parts[0] : 'overview';
  const mode = live.status?.mode;
  return (
    <LiveContext.Provider value={live}>
      <div class={`mode-banner ${mode ?? 'unknown'}`} data-testid="mode-banner">
        {mode === 'live' ? 'LIVE — routes are announced to routers' : mode === 'dry_run' ? 'DRY-RUN — nothing is announced' : 'mode unknown'}
      </div>
      <header>
        <strong>Breakwater</strong>
        <nav>
          {views.filter((v) => !v.offered || v.offered(live.status)).map((v) => (
            <a href={`#/${v.path}`} class={page === v.path ? 'current' : ''} data-testid={`nav-${v.path}`}>
              {v.label}
            </a>
          ))}
        </nav>
        <span class="who" data-testid="whoami">
          {who.name} ({who.role}{who.tenant ? `, tenant ${who.tenant}` : ''}) <span class={`dot ${live.connected ? 'good' : 'bad'}`} title={live.connected ? 'live' : 'reconnecting'} />
        </span>
        <button
          onClick={() => {
            saveToken('');
            location.hash = '';
            location.reload();
          }}
        >
          Log out
        </button>
      </header>
      <main>
        {page === 'overview' ? <Overview /> : null}
        {page === 'talkers' ? <Talkers /> : null}
        {page === 'attacks' ? parts[1] ? <AttackDetail id={decodeURIComponent(parts[1])} canChange={can('operator')} /> : <Attacks /> : null}
        {page === 'bans' ? <Bans canChange={can('operator')} /> : null}
        {page === 'history' ? parts[1] === 'attack' && parts[2] ? <HistoryAttack id={decodeURIComponent(parts[2])} start={parts[3] ? Number(parts[3]) : undefined} /> : <History tenant={who.tenant} /> : null}
        {page === 'mitigate' ? <Mitigate initialTarget={parts[1] ? decodeURIComponent(parts[1]) : ''} attackId={parts[2] ? decodeURIComponent(parts[2]) : undefined} /> : null}
        {page === 'audit' ? <Audit /> : null}
        {page === 'config' ? <Config /> : null}
      </main>
    </LiveContext.Provider>
  );
}

render(<App />, document.getElementById('app')!);
