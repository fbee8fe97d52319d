// The console's entry: loads the session (or shows the login form when the server requires users), then routes
// by path: / live, /part/<camera>/<partId> drill-down, /search, /whatif, /status. Plain DOM, no framework.
import { currentSession, loadSession, NeedLogin, postJson } from './api.js';
import { h, link } from './dom.js';
import { liveView } from './live.js';
import { partView } from './part.js';
import { searchView } from './search.js';
import { statusView } from './status.js';
import { whatIfView } from './whatif.js';

const main = document.getElementById('main')!;
const who = document.getElementById('who')!;
let teardown: (() => void) | undefined;

function loginForm(): void {
  const user = h('input', { id: 'login-user', autocomplete: 'username', placeholder: 'user' });
  const password = h('input', {
    id: 'login-password',
    type: 'password',
    autocomplete: 'current-password',
    placeholder: 'password',
  });
  const msg = h('p', { class: 'error' });
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      await postJson('/api/login', { user: user.value, password: password.value });
      await start();
    } catch (err) {
      msg.textContent = (err as Error).message;
    }
  };
  main.replaceChildren(
    h(
      'form',
      { class: 'login', onsubmit: (e: Event) => void submit(e) },
      h('h2', {}, 'Log in'),
      user,
      password,
      h('button', { type: 'submit' }, 'Log in'),
      msg,
    ),
  );
}

async function route(): Promise<void> {
  teardown?.();
  teardown = undefined;
  const path = location.pathname;
  const q = new URLSearchParams(location.search);
  document
    .querySelectorAll('nav.top a')
    .forEach((a) => a.classList.toggle('active', a.getAttribute('href') === path));
  try {
    const part = /^\/part\/([^/]+)\/([^/]+)$/.exec(path);
    if (part) await partView(main, decodeURIComponent(part[1]), decodeURIComponent(part[2]), q.get('id'));
    else if (path === '/search') searchView(main);
    else if (path === '/whatif') await whatIfView(main, q.get('camera'));
    else if (path === '/status') teardown = statusView(main);
    else teardown = liveView(main);
  } catch (err) {
    if (err instanceof NeedLogin) loginForm();
    else main.replaceChildren(h('p', { class: 'error' }, (err as Error).message));
  }
}

async function start(): Promise<void> {
  try {
    await loadSession();
  } catch (err) {
    if (err instanceof NeedLogin) return loginForm();
    main.replaceChildren(h('p', { class: 'error' }, `cannot reach pinpoint: ${(err as Error).message}`));
    return;
  }
  const s = currentSession()!;
  who.textContent = s.authRequired ? `${s.user} (${s.role})` : '';
  await route();
}

const nav = document.querySelector('nav.top')!;
nav.replaceChildren(
  link('/', 'Live'),
  link('/search', 'Search'),
  link('/whatif', 'What-if'),
  link('/status', 'Status'),
);
window.addEventListener('popstate', () => void route());
void start();
