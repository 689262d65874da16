import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ApiError, BreakwaterError, ConfigError, ERRORS, StartError, apiCode, httpStatus, isErrorCode, listenError } from '../../src/core/errors.ts';
import { REFUSAL_REASONS } from '../../src/ban/guards.ts';

test('one catalogue: every code has a status and a message, and answers under a code without an answer of its own', () => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.ok(spec.status >= 400 && spec.status <= 599, code);
    assert.ok(spec.message.length > 0, code);
    const answer = apiCode(code);
    assert.ok(isErrorCode(answer), `${code} answers under ${answer}`);
    assert.equal(apiCode(answer), answer, `${answer} is an API code`);
    if (answer !== code) assert.ok(httpStatus(code) === httpStatus(answer) || httpStatus(answer) === 500, `${code}: same status as ${answer}`);
  }
  assert.equal(apiCode('no_such_code'), 'internal');
});

test('ban refusals answer as conflict, bad_request or not_found with the refusal kept as the reason', () => {
  for (const r of REFUSAL_REASONS) {
    assert.ok(isErrorCode(r), r);
    assert.ok(['conflict', 'bad_request', 'not_found'].includes(apiCode(r)), r);
  }
  const e = new BreakwaterError('outside_networks');
  assert.equal(e.status, 409);
  assert.equal(e.answer, 'conflict');
  assert.equal(e.message, ERRORS.outside_networks.message);
});

test('API and start errors are catalogue errors', () => {
  const a = new ApiError('not_ready', 'starting', { ready: false });
  assert.ok(a instanceof BreakwaterError);
  assert.equal(a.status, 503);
  assert.equal(a.answer, 'not_ready');
  assert.deepEqual(a.details, { ready: false });
  const s = new StartError('data_dir_busy', 'busy', 'storage.data_dir');
  assert.ok(s instanceof BreakwaterError);
  assert.equal(s.key, 'storage.data_dir');
  assert.equal(new ConfigError([{ path: 'a', message: 'b' }]).code, 'invalid_config');
});

test('listenError turns a real EADDRINUSE into address_in_use naming the key', async () => {
  const a = createServer();
  await new Promise<void>((r) => a.listen(0, '127.0.0.1', r));
  const port = (a.address() as { port: number }).port;
  const b = createServer();
  try {
    const err = await new Promise<unknown>((resolve) => { b.once('error', resolve); b.listen(port, '127.0.0.1'); });
    const e = listenError(err, 'api.listen', `127.0.0.1:${port}`);
    assert.ok(e instanceof StartError);
    assert.equal(e.code, 'address_in_use');
    assert.equal(e.key, 'api.listen');
    assert.match(e.message, /api\.listen "127\.0\.0\.1:\d+": address already in use/);
    const other = new Error('something else');
    assert.equal(listenError(other, 'api.listen', 'x'), other);
  } finally {
    b.close();
    await new Promise((r) => a.close(r));
  }
});
