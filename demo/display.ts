// A catalog entry as the page shows it: pure, no DOM, no runtime (tested in Node).
import type { DisplayItem } from './render.ts';

/** Chips per card: enough to tell items apart, few enough for a phone. */
const MAX_ATTRIBUTES = 4;
/** Characters per chip before it is cut with an ellipsis. */
const MAX_ATTRIBUTE_CHARS = 48;

function shorten(text: string): string {
  return text.length > MAX_ATTRIBUTE_CHARS ? `${text.slice(0, MAX_ATTRIBUTE_CHARS - 1)}…` : text;
}

function attributeText(value: unknown): string | null {
  if (value === null || value === undefined || value === '') return null;
  if (Array.isArray(value)) return value.length > 0 ? value.map(String).join(', ') : null;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * One catalog entry as the page shows it. Entries are an external id string, or `{ id, title?, attributes? }`
 * with attributes an object (`{ brand: 'X' }` → "brand: X") or a list of strings. Everything stays a string
 * here: render.ts puts it in through textContent, so HTML in a title is shown as text. An untitled item is
 * called `${noun} ${id}` ("Video 42").
 */
export function toDisplayItem(entry: unknown, index: number, noun = 'Item'): DisplayItem {
  if (typeof entry === 'string' || typeof entry === 'number') return { id: String(entry), title: `${noun} ${entry}`, attributes: [] };
  const e = (entry ?? {}) as { id?: unknown; title?: unknown; attributes?: unknown };
  const id = e.id === undefined ? String(index) : String(e.id);
  const title = typeof e.title === 'string' && e.title.trim() !== '' ? e.title : `${noun} ${id}`;
  let attributes: string[] = [];
  if (Array.isArray(e.attributes)) {
    attributes = e.attributes.map(attributeText).filter((a): a is string => a !== null);
  } else if (e.attributes && typeof e.attributes === 'object') {
    attributes = Object.entries(e.attributes as Record<string, unknown>)
      .map(([key, value]) => {
        const text = attributeText(value);
        return text === null ? null : `${key}: ${text}`;
      })
      .filter((a): a is string => a !== null);
  }
  return { id, title, attributes: attributes.slice(0, MAX_ATTRIBUTES).map(shorten) };
}
