// A tiny element builder: h('div', { class: 'x', onclick }, child, 'text'). No framework: the console is a few
// views of plain elements.
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children)
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export const fmtScore = (s: number | null | undefined): string =>
  s === null || s === undefined ? '–' : s.toFixed(4);
export const fmtTime = (ms: number): string => new Date(ms).toLocaleString();

/** Links inside the console change the view without a page load. */
export function go(path: string): void {
  history.pushState(null, '', path);
  window.dispatchEvent(new Event('popstate'));
}

export function link(path: string, ...children: Child[]): HTMLAnchorElement {
  return h(
    'a',
    {
      href: path,
      onclick: ((e: MouseEvent) => {
        if (e.ctrlKey || e.metaKey || e.button !== 0) return;
        e.preventDefault();
        go(path);
      }) as EventListener,
    },
    ...children,
  );
}
